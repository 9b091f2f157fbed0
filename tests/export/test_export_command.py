"""`tracegate export` keeps a file only once it is complete: a stream cut short leaves nothing behind."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gateway.cli.main import main
from tests.export.builders import Life, export_of, live

EXPORT = export_of(live("KKM-CMD", 31, Life(shifts=2)))


class _Gateway(BaseHTTPRequestHandler):
    """Answers GET /v1/export with the export, or with its first half as if the gateway died mid-way."""

    cut = False

    def do_GET(self) -> None:
        body = EXPORT[: len(EXPORT) // 2] if self.cut else EXPORT
        assert self.path.startswith("/v1/export?device=KKM-CMD")
        assert self.headers["Authorization"] == "Bearer tok"
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("X-Export-Events", "10")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def gateway_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        _Gateway.cut = False


def _export(url: str, out: Path, tmp_path: Path) -> int:
    return main(
        [
            "export",
            "--gateway",
            url,
            "--token",
            "tok",
            "--data",
            str(tmp_path / "data"),
            "--device",
            "KKM-CMD",
            "-o",
            str(out),
            "--quiet",
        ]
    )


def test_a_complete_export_is_kept_compressed_when_asked(gateway_url: str, tmp_path: Path) -> None:
    out = tmp_path / "kkm.jsonl.gz"
    assert _export(gateway_url, out, tmp_path) == 0
    assert gzip.decompress(out.read_bytes()) == EXPORT
    assert not list(tmp_path.glob("*.partial"))


def test_an_export_cut_short_is_not_kept(
    gateway_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _Gateway.cut = True
    out = tmp_path / "kkm.jsonl"
    assert _export(gateway_url, out, tmp_path) == 1
    assert "stopped half-way" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob("*.partial"))

"""End-to-end fixtures: the real gateway process (`tracegate serve`) on real embedded chDB in a tmp dir."""

from __future__ import annotations

import json
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway.wire import pb

PROTOBUF = "application/x-protobuf"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tracegate(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the tracegate command as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


@dataclass
class Gateway:
    """A running gateway process and how to talk to it."""

    url: str
    data: Path
    port: int
    process: subprocess.Popen[str] | None = None
    extra_args: tuple[str, ...] = ()
    ssl_context: ssl.SSLContext | None = None

    @property
    def token(self) -> str:
        return (self.data / "admin.token").read_text().strip()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gateway.cli.main",
                "serve",
                "--data",
                str(self.data),
                "--port",
                str(self.port),
                "--log-level",
                "WARNING",
                *self.extra_args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"gateway exited: {self.process.stdout.read() if self.process.stdout else ''}"
                )
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2, context=self.ssl_context):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gateway did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str | None = None,
        token: str | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(self.url + path, data=body, method=method)
        if content_type:
            req.add_header("Content-Type", content_type)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=60, context=self.ssl_context) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def post_batch(self, envelopes: list[pb.Envelope]) -> pb.IngestAck:
        status, _, body = self.request(
            "POST", "/v1/batches", pb.IngestBatch(envelopes=envelopes).SerializeToString(), PROTOBUF
        )
        assert status == 200, body
        return pb.IngestAck.FromString(body)

    def admin(self, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
        data = json.dumps(payload).encode() if payload is not None else None
        status, _, body = self.request(method, path, data, "application/json" if data else None, self.token)
        return status, json.loads(body)

    def sql(self, query: str) -> list[list[Any]]:
        status, answer = self.admin("POST", "/v1/admin/sql", {"query": query})
        assert status == 200, answer
        return list(answer["rows"])

    def wait_shipped(self, expected_events: int, timeout_s: float = 60) -> None:
        """Wait until the journal is drained and at least expected_events rows are in events."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            _, summary = self.admin("GET", "/v1/admin/summary")
            if summary["journal_unshipped_bytes"] == 0 and summary["events_stored"] >= expected_events:
                return
            time.sleep(0.3)
        raise AssertionError(f"not shipped in time: {summary}")


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    port = free_port()
    gw = Gateway(url=f"http://127.0.0.1:{port}", data=tmp_path / "data", port=port)
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()

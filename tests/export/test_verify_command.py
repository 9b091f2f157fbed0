"""The verifier as a command: standalone (nothing of the server side importable), exit statuses, --json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.export.report import EXIT_CONTENT, EXIT_NOT_AUTHENTIC, EXIT_PASS, EXIT_USAGE
from gateway.wire import pb, signing
from tests.export.builders import EXPORT_KEY, Life, export_of, file_of, lines_of, live

# Run with the gateway's server stack made unimportable: the verifier needs only cryptography and protobuf.
_STANDALONE = (
    "import sys\n"
    "for name in ('aiohttp', 'clickhouse_connect', 'chdb', 'numpy', 'pandas'):\n"
    "    sys.modules[name] = None\n"
    "from gateway.export.verify import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def _verify(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _STANDALONE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("export") / "kkm.jsonl"
    path.write_bytes(export_of(live("KKM-CLI", 21, Life(shifts=2, rotate_every=6, gap_every=8))))
    return path


def test_the_verifier_runs_without_the_server_stack(exported: Path) -> None:
    done = _verify(str(exported))
    assert done.returncode == EXIT_PASS, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1].startswith("RESULT PASS")
    assert all(line.split()[0] in ("PASS", "NOTE") for line in lines[:-1])


def test_json_and_a_pinned_key(exported: Path, tmp_path: Path) -> None:
    key = tmp_path / "export.pem"
    key.write_text(signing.public_key_pem(signing.load_public_key_point(EXPORT_KEY.public_key)))
    done = _verify("--json", "--export-key", str(key), str(exported))
    assert done.returncode == EXIT_PASS, done.stderr
    answer = json.loads(done.stdout)
    assert answer["result"] == "PASS" and answer["exit_status"] == 0 and answer["failed_checks"] == []
    assert {line["check"] for line in answer["lines"]} >= {"file", "manifest", "seq", "chain", "signatures"}
    assert not [line for line in answer["lines"] if line["status"] == "NOTE" and line["check"] == "manifest"]


def test_exit_status_says_what_is_wrong(exported: Path, tmp_path: Path) -> None:
    records = lines_of(exported.read_bytes())
    records[5]["seq"] += 100
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_bytes(file_of(records))
    done = _verify("--json", str(tampered))
    assert done.returncode == EXIT_NOT_AUTHENTIC
    failed = [line for line in json.loads(done.stdout)["lines"] if line["status"] == "FAIL"]
    assert any(line["check"] == "seq" and line["seq"] == records[5]["seq"] for line in failed), failed

    assert _verify(str(tmp_path / "missing.jsonl")).returncode == EXIT_USAGE
    assert _verify("--export-key", "not-a-key-file", str(exported)).returncode == EXIT_USAGE


def test_content_findings_alone_exit_3(tmp_path: Path) -> None:
    lived = live("KKM-CONTENT", 4, Life(shifts=0))
    register = lived.register
    register.open_shift()
    receipt = register.new_receipt(pb.SELL)
    receipt.lines.add(name="Tea", quantity=1000, price=900_00, sum=900_00)
    receipt.total = 901_00  # the register itself signed a total one tenge above its line
    receipt.payments.add(type=pb.CARD, sum=901_00)
    register.book(receipt)
    register.close_shift()
    lived.envelopes = [pb.Envelope.FromString(raw) for raw in register.journal.records()]
    path = tmp_path / "content.jsonl"
    path.write_bytes(export_of(lived))
    done = _verify(str(path))
    assert done.returncode == EXIT_CONTENT, done.stdout
    assert "total_mismatch: total 90100, sum of lines 90000" in done.stdout

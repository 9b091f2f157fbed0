"""`tracegate quarantine`: list reads the set-aside files; replay refuses while a gateway serves the data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gateway.cli.main import main
from gateway.shipping.quarantine import DIRECTORY_NAME, Quarantine, quarantined
from tests.storage.journal_records import Register


def set_aside(data: Path) -> bytes:
    record = Register("KKM-7").shift(1, 1, 1)[1].SerializeToString()
    entry = quarantined(record, 4096, 4096 + 8 + len(record), "j1", "ValueError", "receipt field 99")
    (data / "journal").mkdir()
    Quarantine(data / "journal" / DIRECTORY_NAME).add([entry])
    return record


def test_list_shows_position_device_seq_and_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["quarantine", "list", "--data", str(tmp_path)]) == 0
    assert capsys.readouterr().out == "0 record(s) in quarantine\n"
    record = set_aside(tmp_path)
    assert main(["quarantine", "list", "--data", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "position 4096" in out and "KKM-7 seq 2: ValueError: receipt field 99" in out
    assert out.endswith("1 record(s) in quarantine\n")
    assert main(["quarantine", "list", "--json", "--data", str(tmp_path)]) == 0
    [line] = capsys.readouterr().out.splitlines()
    listed = json.loads(line)
    assert listed["position"] == 4096 and listed["record_bytes"] == len(record) and "record" not in listed


def test_replay_refuses_while_a_gateway_serves_the_data_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    set_aside(tmp_path)
    (tmp_path / "gateway.json").write_text(json.dumps({"pid": os.getpid(), "url": "http://127.0.0.1:9"}))
    assert main(["quarantine", "replay", "--data", str(tmp_path)]) == 1
    assert "stop it, replay, then start it again" in capsys.readouterr().err
    assert len(Quarantine(tmp_path / "journal" / DIRECTORY_NAME).positions) == 1, "nothing touched"


def test_replay_of_an_empty_quarantine_opens_no_storage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["quarantine", "replay", "--data", str(tmp_path)]) == 0  # unit test: ClickHouse is blocked
    assert "nothing to replay" in capsys.readouterr().out


def test_help_texts(capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["quarantine", "--help"], ["quarantine", "replay", "--help"]):
        with pytest.raises(SystemExit):
            main(command)
    out = capsys.readouterr().out
    assert "list" in out and "replay" in out and "twice" in out and "gateway stopped" in out

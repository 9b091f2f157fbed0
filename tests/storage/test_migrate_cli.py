"""`tracegate migrate`: applies the schema once, and leaves a running embedded gateway's directory alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli.main import main
from gateway.storage.migrations import all_migrations


def test_refuses_while_a_gateway_runs_on_the_data_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "gateway.json").write_text(json.dumps({"pid": os.getpid(), "url": "http://127.0.0.1:8080"}))
    assert main(["migrate", "--data", str(tmp_path)]) == 1  # opening chDB here would fail this unit test
    err = capsys.readouterr().err
    assert "gateway is running" in err and "applied the migrations when it started" in err
    assert not (tmp_path / "clickhouse").exists()


@pytest.mark.clickhouse
def test_applies_once_then_reports_up_to_date(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACEGATE_")}
    (tmp_path / "gateway.json").write_text(json.dumps({"pid": 2**22 + 12345, "url": "http://x"}))  # stale

    def migrate() -> str:
        done = subprocess.run([sys.executable, "-m", "gateway.cli.main", "migrate", "--data", str(tmp_path)],
                              capture_output=True, text=True, timeout=120, env=env, check=True)
        return done.stdout

    expected = [f"applied {migration.id}" for migration in all_migrations()]
    assert migrate().splitlines() == expected and expected[0] == "applied 0001_initial"
    assert "up to date" in migrate()

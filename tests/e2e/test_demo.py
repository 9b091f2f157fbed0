"""`tracegate demo` as a new user runs it: a mixed fleet (our contract and OFD registers), ending with every
accepted event stored exactly once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.conftest import tracegate

pytestmark = [pytest.mark.clickhouse, pytest.mark.slow]


def test_demo_runs_end_to_end_and_says_stored_equals_accepted(tmp_path: Path) -> None:
    result = tracegate(
        "demo", "--data", str(tmp_path / "demo"), "--seconds", "4", "--devices", "3", timeout=400, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "every accepted event is stored exactly once" in out
    for code in ("unknown_device", "bad_signature", "chain_fork", "seq_gap", "clock_skew"):
        assert code in out, code
    assert "time_in_future" not in out  # a fast clock is an anomaly on an accepted event
    assert "DUPLICATE" in out or "lost" in out.lower()
    assert "what to run next" in out
    # Every number comes with what it means, and the commands after it point at the demo's own data.
    assert "(the gateway's answers: ACCEPTED" in out and "(read back from ClickHouse" in out
    assert f"--data {tmp_path / 'demo'}" in out
    # Both kinds of register, told apart in ClickHouse by how their events were authenticated; the OFD
    # side's events are its documents answered OK plus the ShiftOpen the gateway made for each shift.
    assert "1 speaking OFD" in out and "2 speaking our contract" in out, out
    by_auth = re.search(r"by authentication: device_signature (\d+), ofd_token (\d+)", out)
    assert by_auth is not None and int(by_auth.group(1)) > 0 and int(by_auth.group(2)) > 0, out
    accounted = re.search(r"\+ (\d+) OFD documents answered OK \+ (\d+) shifts the gateway opened", out)
    assert accounted is not None, out
    documents, shifts = int(accounted.group(1)), int(accounted.group(2))
    assert documents > 0 and shifts > 0 and int(by_auth.group(2)) == documents + shifts
    assert re.search(r"shift_open \d+", out) and "documents answered OK: " in out

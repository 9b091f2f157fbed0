"""The short form of `make reliability`: each fault scenario once against the real gateway and chDB."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.run import SCENARIOS

pytestmark = [pytest.mark.clickhouse, pytest.mark.slow]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_no_acked_event_lost_or_doubled(name: str, tmp_path: Path) -> None:
    result = SCENARIOS[name](tmp_path / name, short=True)
    assert result.verdict.problems == [], result.notes
    assert result.verdict.lost == 0 and result.verdict.doubled == 0
    assert result.verdict.acked > 0 and result.verdict.stored == result.verdict.acked

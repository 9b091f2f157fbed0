"""The attack run's CI form in the suite: every attack of the outside run, against a real gateway, holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.attack.run import run_all

pytestmark = [pytest.mark.clickhouse, pytest.mark.slow]


def test_every_attack_of_the_outside_run_holds(tmp_path: Path) -> None:
    results = run_all(tmp_path / "data", short=True, report=False)
    assert len(results) == 14
    assert [(r.attack.name, r.observed) for r in results if not r.held] == []

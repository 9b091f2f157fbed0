"""End-to-end fixtures: the real gateway process (`tracegate serve`) on real embedded chDB in a tmp dir."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.gateway_process import GatewayProcess


def tracegate(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the tracegate command as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayProcess]:
    """A gateway serving a fresh data directory, stopped after the test."""
    gw = GatewayProcess(tmp_path / "data")
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()

"""`make fuzz` fuzzes both front doors with one budget: the HTTP API and the OFD door, FUZZ_CASES each."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")
def test_make_fuzz_runs_both_fuzzers_with_the_same_budget_and_arguments() -> None:
    planned = subprocess.run(["make", "-n", "fuzz", "FUZZ_CASES=123", "ARGS=--seconds 5 --seed 9"],
                             cwd=REPO, capture_output=True, text=True, check=True).stdout
    for module in ("tests.fuzz.run", "tests.fuzz.ofd_run"):
        assert f"-m {module} --cases 123 --seconds 5 --seed 9" in planned, planned
    assert "exit $status" in planned, "one fuzzer's findings do not stop the other; either fails the run"


def test_the_ofd_fuzzer_takes_every_argument_the_http_fuzzer_takes() -> None:
    helps = [subprocess.run([sys.executable, "-m", module, "--help"], cwd=REPO, capture_output=True,
                            text=True, check=True).stdout
             for module in ("tests.fuzz.run", "tests.fuzz.ofd_run")]
    for option in ("--cases", "--seed", "--workers", "--save", "--seconds"):
        assert all(option in text for text in helps), option

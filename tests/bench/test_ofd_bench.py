"""`tracegate bench --protocol ofd` smoke run: the command works end to end and its JSON has sane figures."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.clickhouse, pytest.mark.slow]


def test_ofd_bench_runs_the_ceiling_and_the_gateway_and_prints_json_last() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "bench", "--protocol", "ofd", "--duration", "2",
         "--devices", "5", "--receipts", "2000", "--json"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    assert figures["protocol"] == "ofd" and figures["errors"] == []
    assert figures["ofd_ceiling_documents_per_s"] > 0
    assert 0 < figures["ofd_ceiling_answer_p50_ms"] <= figures["ofd_ceiling_answer_p99_ms"]
    phases = {p["phase"] for p in figures["processes"]}
    if "gateway" in figures["skipped"]:
        # A build without the OFD handler: the door stays closed and the bench says why.
        assert "no OFD front door" in figures["skipped"]["gateway"] and phases == {"ofd-ceiling"}
    else:
        assert phases == {"ofd-ceiling", "gateway"}
        assert figures["documents_per_s"] > 0 and figures["rejected"] == 0
        assert 0 < figures["ratio_vs_ofd_ceiling"] < 2
    assert "documents/s" in run.stdout and "OFD ceiling" in run.stdout

"""`tracegate bench` smoke run: the command works end to end and its JSON has sane figures (no timings)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.clickhouse, pytest.mark.slow]

KEYS = (
    "receipts_per_s", "rows_per_s", "ack_p50_ms", "ack_p99_ms", "visibility_p99_s", "peak_rss_mib",
    "ceiling_receipts_per_s", "naive_receipts_per_s", "ratio_vs_ceiling", "ratio_vs_naive",
    "backlog_events_per_s",
)


def test_bench_runs_and_prints_the_figures_as_json_last() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "bench", "--duration", "3", "--devices", "5",
         "--backlog-events", "2000", "--check-rate", "400", "--check-seconds", "1", "--json"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    assert all(key in figures for key in KEYS), sorted(set(KEYS) - set(figures))
    for key in KEYS:
        assert figures[key] > 0, (key, figures[key])
    # Every receipt the fleet sent was authentic and well-formed: nothing rejected, nothing lost.
    assert figures["rejected"] == 0 and figures["errors"] == []
    assert figures["all_visible"] is True
    # Events plus receipts plus five lines each at least: rows outnumber receipts.
    assert figures["rows_stored"] >= 7 * figures["accepted"]
    # Every code sold was in the registry, in circulation and owned by its seller: no anomaly at all.
    assert figures["registry_codes"] > figures["accepted"] // 2
    assert figures["anomalies"] == 0
    assert figures["ack_p50_ms"] <= figures["ack_p99_ms"]
    assert 0 < figures["ratio_vs_ceiling"] < 2
    assert {p["phase"] for p in figures["processes"]} == {"ceiling", "naive", "gateway"}
    # The gateway's own processes are reported one by one: on 2+ cores its storage child did the inserts.
    servers = [p for p in figures["processes"] if "cores_under_load" in p]
    gateway = {p["name"]: p for p in servers if p["phase"] == "gateway"}
    if (os.cpu_count() or 1) >= 2:
        assert gateway["tg-storage"]["cpu_s_under_load"] > 0
    assert gateway["gateway"]["cpu_s_under_load"] > 0
    assert "receipts/s" in run.stdout and "× naive" in run.stdout
    # The pre-sale checks after the phases: every one answered 200 (a verdict), timed.
    assert figures["check_sent"] == figures["check_answered_200"] == 400, figures["check_statuses"]
    assert 0 < figures["check_p50_ms"] <= figures["check_p99_ms"] <= figures["check_max_ms"]
    assert "pre-sale checks: 400" in run.stdout

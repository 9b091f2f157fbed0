"""Scenario 3: ClickHouse fails for a while (then loses answers), then heals: acks go on, nothing doubles."""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.reliability.gateway_process import GatewayProcess
from tests.reliability.ledger import judge_all
from tests.reliability.sim_run import ScenarioResult, SimRun, settled_problems


def _watch(gateway: GatewayProcess, seconds: float) -> tuple[set[int], int, int]:
    """Poll /readyz for a while: statuses seen, largest unshipped journal bytes, most consecutive failures."""
    statuses: set[int] = set()
    unshipped = failures = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status, body = gateway.readyz()
        statuses.add(status)
        unshipped = max(unshipped, int(body["journal_unshipped_bytes"]))
        failures = max(failures, int(body["shipper"]["consecutive_failures"]))
        time.sleep(0.5)
    return statuses, unshipped, failures


def metric(text: str, name: str) -> float:
    """The sum of a Prometheus metric's samples in an exposition (0 if absent)."""
    return sum(float(m) for m in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE))


def _metrics_problems(gateway: GatewayProcess) -> list[str]:
    """During the outage /metrics must show failed shipping and a growing journal."""
    status, _, body = gateway.request("GET", "/metrics", timeout=10)
    if status != 200:
        return [f"/metrics answered {status} during the outage"]
    text = body.decode()
    problems = []
    if metric(text, "tracegate_shipper_errors_total") <= 0:
        problems.append("/metrics shows no shipper errors during the outage")
    if metric(text, "tracegate_journal_unshipped_bytes") <= 0:
        problems.append("/metrics shows no unshipped journal bytes during the outage")
    return problems


def run_storage_outage(workdir: Path, *, short: bool) -> ScenarioResult:
    """storage_down 20 s (short) or 3 min, then storage_lost_reply (inserts land, answers lost), heal."""
    down_s = 20.0 if short else 180.0
    lost_reply_s = 6.0 if short else 30.0
    duration_s = down_s + lost_reply_s + (12.0 if short else 30.0)  # and selling on after the heal
    workdir.mkdir(parents=True, exist_ok=True)
    gateway = GatewayProcess(workdir / "data", env={"TRACEGATE_SHIPPER_INTERVAL_S": "0.2"})
    gateway.start()
    sim = SimRun(gateway, workdir, devices=3, duration_s=duration_s, rate=6.0, drain_s=120.0)
    problems: list[str] = []
    try:
        sim.wait_registered()
        time.sleep(3.0)
        gateway.set_fault("storage_down")
        statuses, unshipped, failures = _watch(gateway, down_s)
        if 503 not in statuses:
            problems.append("/readyz never said 503 while storage was down")
        if unshipped == 0:
            problems.append("no events were acked (journalled) while storage was down")
        problems += _metrics_problems(gateway)
        status, answer = gateway.admin("GET", "/v1/admin/summary")  # reads ClickHouse directly
        if (status, answer.get("error")) != (503, "storage_unavailable"):
            problems.append(f"an admin read during the outage answered {status} {answer}, not 503")
        gateway.set_fault("storage_lost_reply")
        _, _, lost_failures = _watch(gateway, lost_reply_s)
        # Back-off may be long by now: hold the fault until an insert has landed with its answer lost.
        deadline = time.monotonic() + 45
        while "storage_lost_reply" not in gateway.log_tail(20_000) and time.monotonic() < deadline:
            time.sleep(0.5)
        if "storage_lost_reply" not in gateway.log_tail(20_000):
            problems.append("the shipper never retried through a lost insert answer")
        gateway.set_fault(None)
        healed = time.monotonic()
        recover_s = gateway.wait_drained()
        ready_status, _ = gateway.readyz()
        if ready_status != 200:
            problems.append(f"/readyz answers {ready_status} after the heal")
        summary = sim.wait(timeout_s=duration_s + 240)
        gateway.wait_drained()
        verdict = judge_all(gateway, sim.ledger())
        verdict.problems += problems + settled_problems(summary)
        notes = [f"outage {down_s:g} s + lost replies {lost_reply_s:g} s; journal grew to {unshipped} B; "
                 f"shipper failures in a row: {failures} / {lost_failures}; "
                 f"drained {time.monotonic() - healed:.1f} s after heal"]
    finally:
        sim.kill()
        gateway.stop()
    return ScenarioResult("storage outage", verdict, recover_s, notes)

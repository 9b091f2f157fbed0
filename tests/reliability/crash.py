"""Scenario 1: SIGKILL the gateway at random moments under simulator load, restart it, check the promise."""

from __future__ import annotations

import random
import time
from pathlib import Path

from tests.reliability.gateway_process import GatewayProcess
from tests.reliability.ledger import judge_all
from tests.reliability.sim_run import ScenarioResult, SimRun, settled_problems

# Small segments and a fast shipper, so kills also land mid-rotation, mid-insert and mid-checkpoint,
# not only mid-request and mid-fsync.
CRASH_ENV = {"TRACEGATE_JOURNAL_SEGMENT_BYTES": "32768", "TRACEGATE_SHIPPER_INTERVAL_S": "0.1"}


def run_crash(workdir: Path, *, short: bool, seed: int | None = None) -> ScenarioResult:
    """Kill -9 the gateway 10 (short) or 40 times while 4 registers sell, some acks 'lost' so they resend,
    and each register rotates its key every 25 receipts (a resend signed by the retired key must be a
    DUPLICATE, also when the kill came between journalling the rotation and acking it)."""
    kills = 10 if short else 40
    duration_s = 55.0 if short else 240.0
    rng = random.Random(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    gateway = GatewayProcess(workdir / "data", env=dict(CRASH_ENV))
    gateway.start()
    sim = SimRun(gateway, workdir, devices=4, duration_s=duration_s, rate=8.0, lost_ack_rate=0.05,
                 drain_s=120.0, rotate_every=25)
    notes: list[str] = []
    try:
        sim.wait_registered()  # a kill during registration would end the simulator
        up_s = duration_s / kills - 2.2  # a start takes about 2 s
        for _ in range(kills):
            time.sleep(rng.uniform(0.3, max(0.6, 2 * up_s - 0.3)))
            gateway.kill()
            time.sleep(rng.uniform(0.0, 0.5))
            gateway.start()
        summary = sim.wait(timeout_s=duration_s + 240)
        drain_s = gateway.wait_drained()
        ledger = sim.ledger()
        verdict = judge_all(gateway, ledger)
        verdict.problems += settled_problems(summary)
        if not ledger.duplicates:
            verdict.problems.append("no DUPLICATE answers: resends after lost acks were not exercised")
        if summary.get("key_rotations", 0) < 4:
            verdict.problems.append("fewer key rotations than registers: rotation was not exercised")
        notes.append(f"{kills} SIGKILLs, {summary.get('key_rotations')} key rotations, "
                     f"{len(ledger.duplicates)} duplicates answered, "
                     f"request errors {summary['request_errors']}, final drain {drain_s:.1f} s")
    finally:
        sim.kill()
        gateway.stop()
    return ScenarioResult(f"crash (SIGKILL x{kills})", verdict, max(gateway.start_times_s[1:]), notes)

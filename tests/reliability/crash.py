"""Scenario 1: SIGKILL the gateway at random moments under simulator load, restart it, check the promise."""

from __future__ import annotations

import random
import time
from pathlib import Path

from tests.reliability.gateway_process import GatewayProcess, free_port
from tests.reliability.ledger import judge_all
from tests.reliability.sim_run import ScenarioResult, SimRun, settled_problems

# Small segments and a fast shipper, so kills also land mid-rotation, mid-insert and mid-checkpoint,
# not only mid-request and mid-fsync.
CRASH_ENV = {"TRACEGATE_JOURNAL_SEGMENT_BYTES": "32768", "TRACEGATE_SHIPPER_INTERVAL_S": "0.1"}


def run_crash(workdir: Path, *, short: bool, seed: int | None = None) -> ScenarioResult:
    """Kill -9 the gateway 10 (short) or 40 times while 8 registers sell, half of them OFD registers at the
    OFD front door (2.0.3, one 2.0.2), some answers 'lost' so they resend; each of ours rotates its key
    every 25 receipts (a resend signed by the retired key must be a DUPLICATE, also when the kill came
    between journalling the rotation and acking it); an OFD register's resend after a kill must get the
    stored answer, and none may be blocked."""
    kills = 10 if short else 40
    duration_s = 55.0 if short else 240.0
    rng = random.Random(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    gateway = GatewayProcess(workdir / "data", env=dict(CRASH_ENV),
                             serve_args=("--ofd-port", str(free_port())))
    gateway.start()
    sim = SimRun(gateway, workdir, devices=8, duration_s=duration_s, rate=8.0, lost_ack_rate=0.05,
                 drain_s=120.0, rotate_every=25, extra=("--protocol", "mixed", "--ofd-version", "mixed"))
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
        ours, ofd = summary["tracegate"], summary["ofd"]
        drain_s = gateway.wait_drained()
        ledger = sim.ledger()
        verdict = judge_all(gateway, ledger, ofd=sim.ofd_answers())
        verdict.problems += settled_problems(summary)
        if not ledger.duplicates:
            verdict.problems.append("no DUPLICATE answers: resends after lost acks were not exercised")
        if ours.get("key_rotations", 0) < 4:
            verdict.problems.append("fewer key rotations than registers: rotation was not exercised")
        if not ofd["resends"] or not ofd["link_failures"]:
            verdict.problems.append("no OFD resend after a lost answer or a kill: replay was not exercised")
        notes.append(f"{kills} SIGKILLs, {ours.get('key_rotations')} key rotations, "
                     f"{len(ledger.duplicates)} duplicates answered, "
                     f"request errors {ours['request_errors']}; OFD: {sum(ofd['documents_ok'].values())} "
                     f"documents answered OK, {ofd['resends']} answers lost and replayed, exchanges cut by "
                     f"kills {sum(ofd['link_failures'].values())}; final drain {drain_s:.1f} s")
    finally:
        sim.kill()
        gateway.stop()
    slowest_start = max(gateway.start_times_s[1:])
    return ScenarioResult(f"crash, OFD too (SIGKILL x{kills})", verdict, slowest_start, notes)

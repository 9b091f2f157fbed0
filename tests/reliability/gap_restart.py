"""Scenario: a signed gap notice survives restarts after its journal segment was shipped and deleted."""

from __future__ import annotations

import time
from pathlib import Path

from gateway.wire import pb
from tests.reliability.direct_register import post_and_log, register_device, signed_sales
from tests.reliability.gateway_process import GatewayProcess
from tests.reliability.ledger import AckLedger, judge_all
from tests.reliability.sim_run import ScenarioResult

SEGMENT_ENV = {"TRACEGATE_JOURNAL_SEGMENT_BYTES": "16384", "TRACEGATE_SHIPPER_INTERVAL_S": "0.1"}


def run_gap_restart(workdir: Path, *, short: bool) -> ScenarioResult:
    """Registers that lost storage send a signed gap notice, then the gateway is killed and restarted once
    the notice's segment is gone (its chain head comes from ClickHouse): each register's next event after
    the gap must be accepted, after every restart."""
    devices = 3 if short else 10
    rounds = 2 if short else 5
    workdir.mkdir(parents=True, exist_ok=True)
    gateway = GatewayProcess(workdir / "data", env=dict(SEGMENT_ENV))
    ledger = AckLedger()
    problems: list[str] = []
    recover: list[float] = []
    try:
        gateway.start()
        registers = [register_device(gateway, f"GAP-{i}") for i in range(devices)]
        busy = register_device(gateway, "GAP-BUSY")
        for round_ in range(rounds):
            for register in registers:
                post_and_log(gateway, signed_sales(register, 3), ledger)
                lost = 2 + round_  # seqs the register's storage lost
                notice = pb.Event(time_ms=int(time.time() * 1000), gap_notice=pb.GapNotice(
                    first_missing_seq=register.seq + 2, last_missing_seq=register.seq + 1 + lost,
                    reason="flash storage failed"))
                post_and_log(gateway, [register.envelope(notice)], ledger)
                register.seq += lost  # the lost events are not sent, ever: the chain goes on after them
            for _ in range(12):  # another register fills segments: the notices' segments are deleted
                post_and_log(gateway, signed_sales(busy, 20), ledger)
            gateway.wait_drained()
            gateway.kill()
            recover.append(gateway.start())
            for register in registers:
                ack = post_and_log(gateway, signed_sales(register, 2), ledger)
                got = [a.error_code or pb.AckStatus.Name(a.status) for a in ack.acks]
                if got != ["ACCEPTED", "ACCEPTED"]:
                    problems.append(f"{register.device_id} after the gap and a restart: {got}")
        gateway.wait_drained()
        verdict = judge_all(gateway, ledger, sim_traffic=False)
        verdict.problems += problems
        # events with gaps declared by notices are not "chains with gaps in storage" to worry about
        verdict.problems = [p for p in verdict.problems if not p.startswith("chains with gaps")]
        notes = [f"{devices} registers x {rounds} gap notices, each followed by a kill and a restart from "
                 "ClickHouse's heads; every next event after a gap accepted"]
    finally:
        gateway.stop()
    return ScenarioResult("gap notice across restarts", verdict, max(recover, default=0.0), notes)

"""Scenario 5: restart with a backlog: ship from the checkpoint, rebuild heads, answer duplicates."""

from __future__ import annotations

import time
from pathlib import Path

from gateway.wire import pb
from tests.reliability.direct_register import post_and_log, register_device, signed_sales
from tests.reliability.gateway_process import GatewayProcess
from tests.reliability.ledger import AckLedger, judge_all
from tests.reliability.sim_run import ScenarioResult

BATCH = 50


def run_restart_backlog(workdir: Path, *, short: bool) -> ScenarioResult:
    """Part shipped (segments deleted: heads come from ClickHouse), part only journalled, then kill."""
    devices = 3 if short else 10
    shipped_per_device = 300 if short else 1000  # beyond the in-memory window of 256 recent seqs
    backlog_per_device = 100 if short else 500
    workdir.mkdir(parents=True, exist_ok=True)
    gateway = GatewayProcess(workdir / "data", env={"TRACEGATE_JOURNAL_SEGMENT_BYTES": "16384"})
    gateway.start()
    ledger = AckLedger()
    problems: list[str] = []
    sent: list[list[pb.Envelope]] = []
    try:
        registers = [register_device(gateway, f"BACKLOG-{i}") for i in range(devices)]
        for register in registers:
            for _ in range(shipped_per_device // BATCH):
                sent.append(signed_sales(register, BATCH))
                post_and_log(gateway, sent[-1], ledger)
        gateway.wait_drained()
        gateway.set_fault("storage_down")
        for register in registers:
            for _ in range(backlog_per_device // BATCH):
                sent.append(signed_sales(register, BATCH))
                post_and_log(gateway, sent[-1], ledger)
        backlog = gateway.readyz()[1]["journal_unshipped_bytes"]
        if not backlog:
            problems.append("no backlog built up while storage was down")
        gateway.kill()
        gateway.set_fault(None)
        began = time.monotonic()
        gateway.start()
        # Every resend, old (answered from ClickHouse) or recent (from the journal), is a DUPLICATE.
        statuses: set[int] = set()
        for batch in sent:
            ack = post_and_log(gateway, batch, ledger)
            statuses |= {a.status for a in ack.acks}
        if statuses != {pb.DUPLICATE}:
            problems.append(f"resends after restart answered {statuses}, expected only DUPLICATE")
        for register in registers:  # the chains go on from the rebuilt heads
            ack = post_and_log(gateway, signed_sales(register, 5), ledger)
            if {a.status for a in ack.acks} != {pb.ACCEPTED}:
                problems.append(f"{register.device_id}: next seqs not accepted after restart: {ack}")
        gateway.wait_drained()
        recover_s = time.monotonic() - began
        verdict = judge_all(gateway, ledger)
        verdict.problems += problems
        notes = [f"{devices} devices, {shipped_per_device} shipped + {backlog_per_device} backlog each "
                 f"({backlog} B unshipped at the kill); every resend DUPLICATE with the same fiscal sign"]
    finally:
        gateway.stop()
    return ScenarioResult("restart with backlog", verdict, recover_s, notes)

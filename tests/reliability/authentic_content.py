"""Scenario: authentic events with content a register cannot take back (a fast clock, bytes that are no
Event, a receipt over the line limit, an oversized event) are accepted as anomalies; the chain goes on."""

from __future__ import annotations

from pathlib import Path

from gateway.wire import pb
from tests.e2e.chain_builder import sale
from tests.reliability.direct_register import post_and_log, register_device, signed_sales
from tests.reliability.gateway_process import GatewayProcess
from tests.reliability.ledger import AckLedger, judge_all
from tests.reliability.sim_run import ScenarioResult, SimRun, settled_problems

CLOCK_AHEAD_S = 360  # six minutes fast: over the 300 s the gateway allows


def _oversized(lines: int) -> pb.Event:
    event = sale(100 * lines)
    line = event.receipt.lines[0]
    line.sum, line.price = 100, 100
    line.taxes[0].sum = 11
    for _ in range(lines - 1):
        event.receipt.lines.append(line)
    return event


def run_authentic_content(workdir: Path, *, short: bool) -> ScenarioResult:
    """Simulated registers whose clocks run six minutes fast sell for a while; one register signs a
    firmware bug's bytes, a receipt of 1,500 lines and a 300 KiB event between its sales."""
    duration_s = 20.0 if short else 90.0
    workdir.mkdir(parents=True, exist_ok=True)
    gateway = GatewayProcess(workdir / "data")
    gateway.start()
    sim = SimRun(gateway, workdir, devices=3, duration_s=duration_s, rate=6.0, drain_s=60.0,
                 extra=("--clock-skew", str(CLOCK_AHEAD_S)))
    problems: list[str] = []
    try:
        sim.wait_registered()
        direct = AckLedger()
        register = register_device(gateway, "CONTENT-1")
        big = _oversized(1500)
        huge = sale(1000)
        huge.receipt.lines[0].name = "x" * 300_000  # over the event and the string limits
        def odd() -> list[pb.Envelope]:  # a firmware bug's bytes, 1,500 lines, 300 KiB
            return [register.envelope(b"\x0a\xff\xff"), register.envelope(big), register.envelope(huge)]

        for make in (lambda: signed_sales(register, 3), odd, lambda: signed_sales(register, 3)):
            ack = post_and_log(gateway, make(), direct)
            bad = [a.error_code for a in ack.acks if a.status != pb.ACCEPTED]
            if bad:
                problems.append(f"authentic events refused: {bad}")
        summary = sim.wait(timeout_s=duration_s + 200)
        gateway.wait_drained()
        ledger = sim.ledger()
        ledger.accepted |= direct.accepted
        ledger.signs.update(direct.signs)
        ledger.signed.update(direct.signed)
        verdict = judge_all(gateway, ledger)  # also: no authentic event finally rejected
        verdict.problems += problems + settled_problems(summary)
        kinds = dict(gateway.sql(
            "SELECT kind, count() FROM tracegate.anomalies WHERE kind IN ('clock_skew', 'undecodable_event', "
            "'too_many_lines', 'oversize_event', 'field_too_long') GROUP BY kind"))
        for kind in ("clock_skew", "undecodable_event", "too_many_lines", "oversize_event", "field_too_long"):
            if not kinds.get(kind):
                verdict.problems.append(f"no {kind} anomaly stored")
        notes = [f"clocks {CLOCK_AHEAD_S} s fast on {summary.get('registers', 3)} registers; anomalies "
                 f"{kinds}; rejections answered {dict(ledger.rejection_codes)}"]
    finally:
        sim.kill()
        gateway.stop()
    return ScenarioResult("authentic content", verdict, 0.0, notes)

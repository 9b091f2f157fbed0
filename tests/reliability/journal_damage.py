"""Scenario 2: a torn or bit-flipped journal tail is dropped at start; mid-journal damage stops it."""

from __future__ import annotations

import struct
from pathlib import Path

from tests.reliability.direct_register import post_and_log, register_device, signed_sales
from tests.reliability.gateway_process import GatewayProcess
from tests.reliability.ledger import AckLedger, judge_all
from tests.reliability.sim_run import ScenarioResult

FRAME = struct.Struct("<II")


def _last_segment(gateway: GatewayProcess) -> Path:
    return sorted((gateway.data / "journal").glob("*.seg"))[-1]


def _first_frame(segment: Path) -> bytes:
    data = segment.read_bytes()
    length, _ = FRAME.unpack_from(data, 0)
    return data[: FRAME.size + length]


def run_journal_damage(workdir: Path, *, short: bool) -> ScenarioResult:
    """Acked events survive a torn tail and a flipped-bit tail; a flipped bit mid-journal refuses to start."""
    workdir.mkdir(parents=True, exist_ok=True)
    gateway = GatewayProcess(workdir / "data")
    gateway.start()
    ledger = AckLedger()
    notes: list[str] = []
    problems: list[str] = []
    try:
        register = register_device(gateway, "DAMAGE-1")
        post_and_log(gateway, signed_sales(register, 40), ledger)
        gateway.wait_drained()
        gateway.set_fault("storage_down")  # the next events stay only in the journal
        post_and_log(gateway, signed_sales(register, 40), ledger)
        gateway.kill()
        gateway.set_fault(None)
        segment = _last_segment(gateway)
        good = _first_frame(segment)
        # A write cut short by the power cut: a header promising more bytes than made it to disk.
        with segment.open("ab") as f:
            f.write(good[: len(good) // 2])
        recover_s = gateway.start()
        gateway.wait_drained()
        if "torn tail" not in gateway.log_tail():
            problems.append("the torn tail was not reported in the log")
        gateway.kill()
        # A whole frame whose payload has a flipped bit: the checksum catches it.
        flipped = bytearray(good)
        flipped[-3] ^= 0x10
        with segment.open("ab") as f:
            f.write(bytes(flipped))
        gateway.start()
        post_and_log(gateway, signed_sales(register, 10), ledger)  # the chain goes on where it was
        gateway.wait_drained()
        gateway.kill()
        # Damage in the middle: good records follow it, so refusing to start is the only safe answer.
        data = bytearray(segment.read_bytes())
        data[FRAME.size + 5] ^= 0x01
        segment.write_bytes(bytes(data))
        refused = gateway.spawn()
        code = refused.wait(timeout=90)
        if code == 0 or "damaged in the middle" not in gateway.log_tail():
            problems.append(f"mid-journal damage did not stop the start loudly (exit {code})")
        data[FRAME.size + 5] ^= 0x01  # the operator restores the segment from a copy
        segment.write_bytes(bytes(data))
        gateway.start()
        gateway.wait_drained()
        verdict = judge_all(gateway, ledger)
        verdict.problems += problems
        notes.append("torn tail and flipped-bit tail dropped at start; mid damage refused start "
                     f"(exit {code}) until repaired")
    finally:
        gateway.stop()
    return ScenarioResult("torn/corrupt journal", verdict, recover_s, notes)

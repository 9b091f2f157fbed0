"""The CI budget of the OFD fuzzer: mutated frames against the front door's transport and against the real
gateway's OFD door, every answer checked."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.ofd.framing import FrameHeader, ResultCode
from gateway.ofd.handler import result_answer
from tests.fuzz.ofd_mutations import OfdCase, OfdKey, seed_requests
from tests.fuzz.ofd_run import (
    _fuzz_transport,
    check_answers,
    fuzz_ofd,
    gateway_with_door,
    ofd_address,
    register_keys,
    stored_findings,
)


def test_mutated_frames_against_the_transport_get_the_answers_the_framing_rules_owe() -> None:
    report = asyncio.run(_fuzz_transport(workers=4, cases=2000, seed=11))
    assert report.findings == [], report.text()
    assert len(report.operators) >= 20
    assert {"OK", "PROTOCOL_ERROR", "(closed, no answer)"} <= set(report.answers)


def test_the_oracle_finds_missing_misdirected_wrong_and_crashed_answers() -> None:
    key = OfdKey(7, 9)
    payload = seed_requests(4).requests[1].SerializeToString()
    case = OfdCase(key.header(payload) + payload, "probe")
    misdirected = result_answer(FrameHeader(203, 0, 7, 9, 2), ResultCode.OK, command=6)
    assert check_answers(case, []) == ["1 answers owed, 0 came"]
    assert any("owed to" in f for f in check_answers(case, [misdirected]))
    cut = OfdCase(case.data[:-1], "probe", eof=True)
    answered_ok = result_answer(FrameHeader(203, 0, 7, 9, 1), ResultCode.OK, command=None)
    assert any("not PROTOCOL_ERROR" in f for f in check_answers(cut, [answered_ok]))
    crashed = result_answer(FrameHeader(203, 0, 7, 9, 1), ResultCode.UNKNOWN_ERROR, "boom", command=5)
    assert any("handler failed" in f for f in check_answers(case, [crashed]))


@pytest.mark.clickhouse
@pytest.mark.slow
def test_mutated_frames_against_the_gateway_leave_receipts_only_for_what_was_answered_ok(
    tmp_path: Path,
) -> None:
    gateway = gateway_with_door(tmp_path / "data")
    gateway.start()
    try:
        address = ofd_address(gateway)
        assert address is not None, gateway.log_tail()
        keys = register_keys(gateway, 4, seed=5)
        report = asyncio.run(fuzz_ofd(address, keys, cases=1500, seed=5))
        assert report.findings == [], report.text()
        assert report.ok_tickets, "no mutated receipt was ever accepted: nothing deep was tested"
        # Healthy, drained; refused input left no row, each receipt answered OK one.
        assert stored_findings(gateway, report) == []
    finally:
        gateway.stop()

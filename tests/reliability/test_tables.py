"""The every-table check sees what `events` alone does not: rows of one table lost or doubled."""

from __future__ import annotations

import time

from gateway.settings import Limits
from gateway.wire import pb
from tests.e2e.chain_builder import ChainedRegister
from tests.ingest.conftest import receipt
from tests.reliability.tables import StoredRows, expected_of, judge_tables

NOW_MS = int(time.time() * 1000)


def _day() -> dict[tuple[str, int], pb.Envelope]:
    register = ChainedRegister("KKM-T1")
    coded = receipt(time_ms=NOW_MS)
    coded.receipt.lines[0].marking_codes.append("0104600000000010215abcdefghijkl\x1d93abcd")
    wrong_total = receipt(time_ms=NOW_MS)
    wrong_total.receipt.total += 1
    close = pb.Event(time_ms=NOW_MS, shift_close=pb.ShiftClose(shift_number=1, receipt_count=2))
    envelopes = [register.envelope(e) for e in (coded, wrong_total, close)]
    return {(e.device_id, e.seq): e for e in envelopes}


def _stored_as_they_should_be(signed: dict[tuple[str, int], pb.Envelope]) -> StoredRows:
    stored = StoredRows()
    for (device, seq), envelope in signed.items():
        stored._add("events", device, [seq, NOW_MS])
        for kind in expected_of(envelope, NOW_MS, Limits()).content_kinds.elements():
            stored._add("anomalies", device, [seq, kind, 0, ""])
        event = pb.Event.FromString(envelope.event)
        if event.HasField("shift_close"):
            stored._add("shifts", device, [seq])
            continue
        stored._add("receipts", device, [seq])
        for line_no in range(1, len(event.receipt.lines) + 1):
            stored._add("receipt_lines", device, [seq, line_no])
        for line in event.receipt.lines:
            for code in line.marking_codes:
                stored._add("code_events", device, [seq, "unknown", code[2:16], "sale"])
                stored._add("anomalies", device, [seq, "code_unknown", 1, code[2:16]])
    return stored


def test_complete_tables_pass() -> None:
    signed = _day()
    verdict = judge_tables(set(signed), signed, _stored_as_they_should_be(signed))
    assert verdict.problems == [] and (verdict.lost, verdict.doubled) == (0, 0)
    assert verdict.rows == 12  # 2 receipts, 4 lines, 1 shift, 1 code event, 4 anomalies


def test_a_table_that_missed_a_batch_or_took_it_twice_is_caught() -> None:
    signed = _day()
    stored = _stored_as_they_should_be(signed)
    device, seq = next(iter(signed))
    stored.counts["receipt_lines"][(device, seq)] -= 1  # a view's insert that did not land
    stored.line_numbers[(device, seq)].pop()
    stored._add("receipts", device, [seq + 1])  # a range re-shipped under another token
    stored._add("anomalies", device, [seq, "code_unknown", 1, stored.verdicts[(device, seq)][0][1]])
    verdict = judge_tables(set(signed), signed, stored)
    assert (verdict.lost, verdict.doubled) == (1, 2)
    assert any(p.startswith("receipt_lines: rows missing") for p in verdict.problems)
    assert any(p.startswith("receipts: rows doubled") for p in verdict.problems)
    assert any(p.startswith("anomalies: rows doubled") for p in verdict.problems)


def test_a_code_verdict_without_its_anomaly_is_lost() -> None:
    signed = _day()
    stored = _stored_as_they_should_be(signed)
    key = next(iter(signed))
    stored.anomalies[key] = [a for a in stored.anomalies[key] if a[0] != "code_unknown"]
    verdict = judge_tables(set(signed), signed, stored)
    assert verdict.lost == 1 and "anomalies: rows missing" in verdict.problems[0]

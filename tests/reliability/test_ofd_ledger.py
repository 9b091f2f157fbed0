"""The OFD judge sees a document lost, stored twice or stored without an OK, and a ShiftOpen too many."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

from tests.reliability.ofd_ledger import OfdAnswers, OfdDocument, OfdRows, OfdVerdict, judge_register

DEVICE = "sim7-ofd-0000"
DOCUMENTS = [
    OfdDocument(DEVICE, 2, "MONEY_PLACEMENT", 1),
    OfdDocument(DEVICE, 3, "TICKET", 1, "1234567890", 2),
    OfdDocument(DEVICE, 4, "CLOSE_SHIFT", 1),
]


def _as_stored() -> OfdRows:
    """What the gateway stores for DOCUMENTS: a ShiftOpen, then one event a document, with its rows."""
    return OfdRows(
        events=[[1, "shift_open", "", 0], [2, "cash_movement", "x", 2], [3, "receipt", "1234567890", 0],
                [4, "shift_close", "y", 4]],
        receipts=Counter({"1234567890": 1}), lines={3: [1, 2]}, shifts=Counter({1: 1}),
        codes=Counter({(3, 1, "cis-a"): 1}))


def _judge(stored: OfdRows, documents: list[OfdDocument] = DOCUMENTS) -> OfdVerdict:
    verdict = OfdVerdict()
    judge_register(DEVICE, documents, len({d.shift for d in documents}), stored, verdict)
    return verdict


def test_what_the_gateway_stores_for_answered_documents_passes() -> None:
    verdict = _judge(_as_stored())
    assert (verdict.acked, verdict.stored) == (4, 4)
    assert verdict.missing == verdict.twice == verdict.stray == verdict.problems == []


def test_a_receipt_lost_stored_twice_or_short_of_lines_is_seen() -> None:
    stored = _as_stored()
    lost = dataclasses.replace(stored, events=[e for e in stored.events if e[1] != "receipt"])
    assert _judge(lost).missing == [f"{DEVICE} TICKET REQNUM 3"]
    twice = dataclasses.replace(stored, events=[*stored.events, [5, "receipt", "1234567890", 0]])
    assert _judge(twice).twice == [f"{DEVICE} TICKET REQNUM 3"]
    short = dataclasses.replace(stored, lines={3: [1]})
    assert _judge(short).missing == [f"{DEVICE} TICKET REQNUM 3: 1 receipts rows, lines [1] of 2 goods lines"]
    doubled_code = dataclasses.replace(stored, codes=Counter({(3, 1, "cis-a"): 2}))
    assert _judge(doubled_code).twice == [f"{DEVICE} code_events (3, 1, 'cis-a')"]


def test_a_placement_or_z_by_its_reqnum_a_second_shift_open_and_a_stray_event_are_seen() -> None:
    stored = _as_stored()
    wrong_reqnum = dataclasses.replace(stored, events=[*stored.events[:3], [4, "shift_close", "y", 9]])
    verdict = _judge(wrong_reqnum)
    assert verdict.missing == [f"{DEVICE} CLOSE_SHIFT REQNUM 4"]
    assert verdict.stray == [f"{DEVICE} shift_close REQNUM 9"]
    reopened = dataclasses.replace(stored, events=[*stored.events, [5, "shift_open", "", 0]])
    assert _judge(reopened).twice == [f"{DEVICE}: 2 shift opens for 1 shifts"]
    unanswered = _judge(stored, DOCUMENTS[:2])  # the Z was stored but never answered OK
    assert unanswered.stray == [f"{DEVICE} shift_close REQNUM 4"]
    gap = dataclasses.replace(stored, events=[e for e in stored.events if e[0] != 1])
    assert any("gaps" in p for p in _judge(gap).problems)


def test_the_ack_log_gives_the_ofd_lines_answered_ok(tmp_path: Path) -> None:
    log = tmp_path / "acks.jsonl"
    lines = [
        {"device_id": "sim7-0000", "seq": 1, "status": "ACCEPTED", "fiscal_sign": "s", "error_code": ""},
        {"protocol": "ofd", "device_id": DEVICE, "ofd_id": 9, "command": "TICKET", "reqnum": 3,
         "result": "OK", "shift": 1, "offline": False, "ticket_number": "1234567890", "lines": 2},
        {"protocol": "ofd", "device_id": DEVICE, "ofd_id": 9, "command": "TICKET", "reqnum": 5,
         "result": "SERVICE_TEMPORARILY_UNAVAILABLE", "shift": 1, "offline": False, "ticket_number": "",
         "lines": 1},
    ]
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    answers = OfdAnswers.from_ack_log(log)
    assert list(answers.documents.values()) == [DOCUMENTS[1]] and answers.devices == {DEVICE}

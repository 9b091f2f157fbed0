"""Buyer data is sealed before the journal, whatever kind the event turned out to be, accepted or refused."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from gateway.security.buyer_data import ERASED, SEALED, Buyer, buyer_in, open_event
from gateway.storage.rows import build_rows
from gateway.wire import pb, signing
from tests.ingest.conftest import NOW_MS, PII_KEYS, Register, make_gateway, receipt

EMAIL, PHONE, IIN = "zhanna.secret@example.kz", "+77019998877", "850505400321"
SECRETS = (EMAIL.encode(), PHONE.encode(), IIN.encode())


def _with_buyer(*, consent: bool = True, time_ms: int = NOW_MS - 60_000) -> pb.Event:
    event = receipt(time_ms=time_ms)
    event.receipt.buyer.CopyFrom(pb.BuyerContacts(
        email=EMAIL, phone=PHONE, iin=IIN, consent_purpose="e-receipt" if consent else "",
        consent_expires_ms=NOW_MS + 86_400_000,
    ))
    return event


def _bytes(event: pb.Event) -> bytes:
    return event.SerializeToString()


# Field numbers of Event (tracegate.proto): receipt = 10, shift_open = 11.
SHIFT_OPEN = _bytes(pb.Event(shift_open=pb.ShiftOpen(shift_number=7)))
PLAIN_RECEIPT = _bytes(pb.Event(receipt=receipt().receipt))
# The odd shapes an attacker (or a buggy register) can sign: each parses, and names the buyer somewhere.
ODD_EVENTS = {
    # receipt with buyer, then another body of the oneof: parses as shift_open
    "oneof_confusion": _bytes(_with_buyer()) + SHIFT_OPEN,
    # … then a receipt without buyer: parses as that receipt, buyerless
    "second_receipt": _bytes(_with_buyer()) + SHIFT_OPEN + PLAIN_RECEIPT,
    # the buyer's contacts given, then blanked by a later buyer field: parses with no contacts
    "blanked_buyer": _bytes(_with_buyer()) + _bytes(pb.Event(receipt=pb.Receipt(
        buyer=pb.BuyerContacts(consent_purpose="x")))) + b"\x52\x06\x62\x04\x0a\x00\x12\x00",
}


def _sign(register: Register, event_bytes: bytes, **kwargs: Any) -> pb.Envelope:
    """Sign raw event bytes as the register would (ChainedRegister signs serialized Events)."""
    seq = register.seq + 1
    preimage = signing.event_preimage(register.device_id, seq, register.head, event_bytes)
    envelope = pb.Envelope(
        device_id=register.device_id, seq=seq, prev_hash=register.head, event=event_bytes,
        signature=signing.sign(register.key, preimage), key_id=register.key_id,
    )
    if kwargs.get("advance", True):
        register.seq, register.head = seq, signing.envelope_hash(preimage)
    return envelope


def _nothing_in_clear(blobs: list[bytes]) -> None:
    for blob in blobs:
        for secret in SECRETS:
            assert secret not in blob


def _row_values(records: list[pb.JournalRecord]) -> list[bytes]:
    out = []
    for table in build_rows(records, PII_KEYS).values():
        for row in table.rows:
            out.append(repr(row).encode())
            out.extend(value for value in row if isinstance(value, bytes))
    return out


@pytest.mark.parametrize("shape", sorted(ODD_EVENTS))
def test_an_odd_event_names_a_buyer_the_parse_does_not_show(shape: str) -> None:
    event = pb.Event.FromString(ODD_EVENTS[shape])
    assert not (event.HasField("receipt") and event.receipt.buyer.phone)  # the parse hides it …
    assert buyer_in(ODD_EVENTS[shape], event) is Buyer.HIDDEN  # … the bytes do not


def test_what_holds_no_buyer_is_left_alone() -> None:
    assert buyer_in(PLAIN_RECEIPT) is Buyer.NONE
    assert buyer_in(SHIFT_OPEN + PLAIN_RECEIPT) is Buyer.NONE  # two bodies, neither names a buyer
    assert buyer_in(_bytes(_with_buyer())) is Buyer.PLAIN
    assert buyer_in(b"\x52\xff") is Buyer.HIDDEN  # does not parse: cannot tell
    assert buyer_in(b"") is Buyer.NONE


async def test_the_journal_and_every_row_keep_no_buyer_in_clear() -> None:
    register = Register("KKM-PII")
    gateway = make_gateway([register])
    sealed = register.envelope(_with_buyer())
    no_consent = register.envelope(_with_buyer(consent=False))
    odd = [_sign(register, event_bytes) for event_bytes in ODD_EVENTS.values()]
    skewed = register.envelope(_with_buyer(time_ms=NOW_MS + 3_600_000))  # a clock_skew anomaly
    malformed = _sign(register, _bytes(_with_buyer()) + b"\x52\xff")  # not an Event: an anomaly
    acks = await gateway.send(sealed, no_consent, *odd, skewed, malformed)
    assert [a.status for a in acks] == [pb.ACCEPTED] * 7

    _nothing_in_clear(gateway.journal.records)
    records = gateway.journal.decoded()
    _nothing_in_clear(_row_values(records))
    protections = [SEALED, ERASED, ERASED, ERASED, ERASED, SEALED, ERASED]
    assert [r.sealed.protection for r in records] == protections
    # Whatever their protection, the digest of the signed bytes is kept: with it an audit export checks
    # the signature without the bytes (docs/export.md).
    signed = [hashlib.sha256(e.event).digest() for e in (sealed, no_consent, *odd, skewed, malformed)]
    assert [r.sealed.event_sha256 for r in records] == signed
    rows = build_rows(records, PII_KEYS)
    events = rows["events"].columns
    assert events["protection"] == protections
    assert events["event_sha256"] == signed
    assert events["kind"] == [
        "receipt", "receipt", "shift_open", "receipt", "receipt", "receipt", "undecodable",
    ]
    assert "rejections" not in rows
    anomalies = rows["anomalies"].columns
    assert sorted(zip(anomalies["seq"], anomalies["kind"], strict=True)) == [
        (2, "pii_without_consent"), (3, "pii_without_consent"), (4, "pii_without_consent"),
        (5, "pii_without_consent"), (6, "clock_skew"), (7, "pii_without_consent"), (7, "undecodable_event"),
    ]

    # Evidence: the operator opens the exact signed bytes; without them, the signature still verifies
    # over the envelope hash the row keeps (ES256 signs the SHA-256 of the preimage).
    buyer_row = build_rows(records[:1], PII_KEYS)["receipt_buyers"]
    row = dict(zip(buyer_row.column_names(), buyer_row.rows[0], strict=True))
    assert open_event(PII_KEYS, row, events["event"][0], records[0].envelope_hash) == sealed.event
    assert signing.verify_signature(register.key.public_key(), _preimage(sealed), sealed.signature)


def _preimage(envelope: pb.Envelope) -> bytes:
    return signing.event_preimage(envelope.device_id, envelope.seq, envelope.prev_hash, envelope.event)

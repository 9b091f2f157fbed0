"""Security pieces without storage: AI labels, the PII key ring, sealing, findings, rate limits, rotation."""

from __future__ import annotations

import pytest

from gateway.errors import GatewayError
from gateway.security.ai_label import BadAiLabel, parse_ai_label
from gateway.security.buyer_data import (
    ERASED,
    SEALED,
    StoredEvent,
    open_buyer,
    open_event,
    protect_record,
    stored_event,
)
from gateway.security.pii_keys import PiiKeyError, PiiKeyRing
from gateway.security.rate_limits import RateLimiter
from gateway.security.receipt_checks import security_findings
from gateway.wire import pb
from tests.e2e.chain_builder import ChainedRegister, sale

DAY_MS = 86_400_000


def buyer_sale(expires_in_ms: int = 30 * DAY_MS, purpose: str = "e-receipt") -> pb.Event:
    event = sale(1500)
    event.receipt.buyer.CopyFrom(
        pb.BuyerContacts(
            email="Aigul@Example.kz",
            phone="8 701 555 0101",
            iin="900101300123",
            consent_purpose=purpose,
            consent_expires_ms=event.time_ms + expires_in_ms,
        )
    )
    return event


def test_ai_label_format() -> None:
    label = parse_ai_label("ai/1;src=trainedAlgorithmicMedia;tool=imagegen-3;by=123456789012")
    assert (label.source, label.tool, label.by) == ("trainedAlgorithmicMedia", "imagegen-3", "123456789012")
    assert parse_ai_label("ai/1;src=algorithmicMedia;x-batch=7").source == "algorithmicMedia"
    for bad in [
        "",
        "AI:1",
        "ai/1",
        "ai/1;src=handmade",
        "ai/1;src=algorithmicMedia;src=algorithmicMedia",
        "ai/1;src=algorithmicMedia;color=red",
        "ai/1;src=algorithmicMedia;tool=<script>",
        "ai/1;src=algorithmicMedia;tool=",
        "ai/1;src=algorithmicMedia;" + "x-a=b;" * 60,
        "ai/1;tool=x\n;src=algorithmicMedia",  # a newline before a separator is not a value's character
    ]:
        with pytest.raises(BadAiLabel):
            parse_ai_label(bad)


def test_findings_name_no_personal_data_and_flag_bad_labels() -> None:
    assert security_findings(buyer_sale()) == []
    for event in (buyer_sale(purpose=""), buyer_sale(expires_in_ms=-1)):
        (finding,) = security_findings(event)
        assert finding.kind == "pii_without_consent"
        assert "Aigul" not in finding.detail and "0101" not in finding.detail
    event = sale(1500)
    event.receipt.lines[0].ai_label = "ai/1;src=<img onerror=x>"
    (finding,) = security_findings(event)
    assert (finding.kind, finding.line) == ("bad_ai_label", 1) and "<img" not in finding.detail


def test_key_ring_seals_rotates_and_detects_tampering() -> None:
    ring = PiiKeyRing.generate()
    key_id, blob = ring.seal(b"secret", b"aad")
    assert ring.open(key_id, blob, b"aad") == b"secret"
    with pytest.raises(PiiKeyError):
        ring.open(key_id, blob[:-1] + bytes([blob[-1] ^ 1]), b"aad")
    with pytest.raises(PiiKeyError):
        ring.open(key_id, blob, b"other aad")
    newer = PiiKeyRing({**ring.keys, "k-new": b"\x01" * 32}, "k-new", ring.hash_key)
    assert newer.open(key_id, blob, b"aad") == b"secret"  # old data still opens after rotation
    assert newer.seal(b"x", b"")[0] == "k-new"
    assert PiiKeyRing.from_json(newer.to_json()) == newer
    # Lookups find a person however the register spelled the contact; the hash is keyed.
    assert ring.lookup_hash("phone", "8 (701) 555-01-01") == ring.lookup_hash("phone", "+77015550101")
    assert ring.lookup_hash("email", " Aigul@Example.KZ") == ring.lookup_hash("email", "aigul@example.kz")
    assert ring.lookup_hash("iin", "900101300123") != PiiKeyRing.generate().lookup_hash("iin", "900101300123")
    with pytest.raises(PiiKeyError) as caught:
        PiiKeyRing.from_json('{"current": "a", "keys": {"a": "c2hvcnQ="}, "hash_key": "x"}')
    assert "c2hvcnQ" not in str(caught.value)


def _record(event: pb.Event) -> pb.JournalRecord:
    register = ChainedRegister("KKM-PII")
    env = register.envelope(event)
    return pb.JournalRecord(
        envelope=env, accepted=True, envelope_hash=register.head, seller_tin="123456789012"
    )


def _protected(ring: PiiKeyRing | None, record: pb.JournalRecord) -> StoredEvent:
    """What the events row keeps of a record protected by the ingest stage."""
    protected = pb.JournalRecord()
    protected.CopyFrom(record)
    protect_record(ring, protected, pb.Event.FromString(record.envelope.event))
    assert b"Aigul" not in protected.SerializeToString()  # nothing in clear in the journal either
    return stored_event(ring, protected, pb.Event.FromString(protected.envelope.event))


def test_event_bytes_with_buyer_are_sealed_or_not_stored() -> None:
    ring = PiiKeyRing.generate()
    record = _record(buyer_sale())
    stored = _protected(ring, record)
    assert stored.protection == SEALED and stored.buyer_row is not None
    assert b"Aigul" not in stored.event_bytes and b"Aigul" not in repr(stored.buyer_row).encode()
    # Whoever holds the key gets the exact signed bytes back (non-repudiation) and the contacts.
    assert (
        open_event(ring, stored.buyer_row, stored.event_bytes, record.envelope_hash) == record.envelope.event
    )
    assert open_buyer(ring, stored.buyer_row)["email"] == "Aigul@Example.kz"
    assert _protected(ring, _record(buyer_sale(purpose=""))).protection == ERASED
    assert _protected(None, record).event_bytes == b""
    plain = _record(sale(100))
    assert _protected(ring, plain).event_bytes == plain.envelope.event
    # A journal from before the ingest stage sealed buyer data: its rows are protected the same way.
    assert stored_event(ring, record, pb.Event.FromString(record.envelope.event)).protection == SEALED


def test_rate_limiter_answers_429_with_retry_after() -> None:
    now = [0.0]
    limiter = RateLimiter(per_s=2.0, burst=3, clock=lambda: now[0])
    for _ in range(3):
        limiter.check("KKM-1", "device")
    with pytest.raises(GatewayError) as caught:
        limiter.check("KKM-1", "device")
    assert caught.value.error.http_status == 429 and caught.value.retry_after_s == 1
    limiter.check("KKM-2", "device")  # another key has its own bucket
    now[0] += 0.5
    limiter.check("KKM-1", "device")

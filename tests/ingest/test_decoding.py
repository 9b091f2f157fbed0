"""Decoding under hard limits: request-level refusals for the batch, per-envelope rejections for the rest."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from gateway import errors
from gateway.errors import GatewayError
from gateway.ingest.decoding import EnvelopeRejected, decode_batch, decode_envelope
from gateway.settings import Limits
from gateway.wire import pb
from tests.ingest.conftest import Register, receipt

LIMITS = Limits()


def test_a_valid_batch_decodes(register: Register) -> None:
    envelopes = register.run(3)
    batch = decode_batch(pb.IngestBatch(envelopes=envelopes).SerializeToString(), LIMITS)
    assert [e.seq for e in batch.envelopes] == [1, 2, 3]
    assert decode_envelope(batch.envelopes[0], LIMITS).receipt.total == receipt(prices=(100,)).receipt.total


@pytest.mark.parametrize(
    ("body", "limits", "code"),
    [
        (b"", LIMITS, "empty_body"),
        (b"\xff\xff\xff", LIMITS, "malformed_batch"),
        (b"\x0a\x05ab", LIMITS, "malformed_batch"),  # truncated envelope
        (b"\x10\x01", LIMITS, "malformed_batch"),  # parses, but holds no envelopes
        (b"\x0a\x00" * 11, replace(LIMITS, max_envelopes=10), "too_many_envelopes"),
        (b"\x0a\x00" * 11, replace(LIMITS, max_body_bytes=20), "body_too_large"),
    ],
)
def test_unusable_batches_are_refused_whole(body: bytes, limits: Limits, code: str) -> None:
    with pytest.raises(GatewayError) as caught:
        decode_batch(body, limits)
    assert caught.value.error.code == code
    assert errors.lookup(code).http_status in (400, 413)


def _set(field: str, value: object) -> Callable[[pb.Envelope], None]:
    def change(envelope: pb.Envelope) -> None:
        setattr(envelope, field, value)

    return change


@pytest.mark.parametrize(
    ("change", "code", "detail"),
    [
        (_set("device_id", ""), "malformed_envelope", "device_id is empty"),
        (_set("device_id", "D" * 65), "field_too_long", "device_id"),
        (_set("seq", 0), "malformed_envelope", "seq"),
        (_set("prev_hash", b"\x00" * 31), "malformed_envelope", "prev_hash is 31 bytes"),
        (_set("signature", b"\x00" * 72), "malformed_envelope", "signature is 72 bytes"),
        (_set("key_id", ""), "malformed_envelope", "key_id"),
        (_set("key_id", "k" * 65), "field_too_long", "key_id"),
        (_set("event", b"\xff\xff"), "malformed_event", "not a valid Event"),
        (_set("event", pb.Event(time_ms=1).SerializeToString()), "malformed_event", "no body"),
        (_set("event", b"\x08\x01" + b"\x00" * (LIMITS.max_event_bytes)), "field_too_long", "event is"),
    ],
)
def test_bad_envelopes_are_rejected_alone(
    register: Register, change: Callable[[pb.Envelope], None], code: str, detail: str
) -> None:
    envelope = register.envelope()
    change(envelope)
    with pytest.raises(EnvelopeRejected) as caught:
        decode_envelope(envelope, LIMITS)
    assert caught.value.error.code == code
    assert detail in caught.value.detail


def test_too_many_lines(register: Register) -> None:
    event = receipt(prices=[100] * 6)
    with pytest.raises(EnvelopeRejected) as caught:
        decode_envelope(register.envelope(event), replace(LIMITS, max_lines=5))
    assert caught.value.error.code == "too_many_lines"
    decode_envelope(register.envelope(event), replace(LIMITS, max_lines=6))


def test_too_many_marking_codes_on_a_line(register: Register) -> None:
    event = receipt()
    event.receipt.lines[1].marking_codes.extend(["0104600000000010215abcde\x1d93abcd"] * 4)
    with pytest.raises(EnvelopeRejected) as caught:
        decode_envelope(register.envelope(event), replace(LIMITS, max_codes_per_line=3))
    assert caught.value.error.code == "field_too_long"
    assert "line 2 has 4 marking codes" in caught.value.detail


@pytest.mark.parametrize("where", ["cashier", "line name", "marking code", "buyer email"])
def test_any_string_in_the_event_over_the_limit_is_rejected(register: Register, where: str) -> None:
    event = receipt()
    long = "x" * (LIMITS.max_string_chars + 1)
    if where == "cashier":
        event.receipt.cashier = long
        path = "receipt.cashier"
    elif where == "line name":
        event.receipt.lines[1].name = long
        path = "receipt.lines[2].name"
    elif where == "marking code":
        event.receipt.lines[0].marking_codes.extend(["ok", long])
        path = "receipt.lines[1].marking_codes"
    else:
        event.receipt.buyer.email = long
        path = "receipt.buyer.email"
    with pytest.raises(EnvelopeRejected) as caught:
        decode_envelope(register.envelope(event), LIMITS)
    assert caught.value.error.code == "field_too_long"
    assert caught.value.detail.startswith(path + " ")


def test_a_string_at_the_limit_is_fine(register: Register) -> None:
    event = receipt()
    event.receipt.cashier = "ж" * LIMITS.max_string_chars
    assert decode_envelope(register.envelope(event), LIMITS).receipt.cashier.startswith("ж")

"""Decoding: the batch's hard limits refuse it whole, an envelope's own fields reject it, its signed content
is never a reason to refuse (findings instead)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from gateway import errors
from gateway.errors import EnvelopeRejected, GatewayError
from gateway.ingest.decoding import decode_batch, decode_envelope, decode_envelope_parts
from gateway.settings import Limits
from gateway.wire import pb
from tests.ingest.conftest import Register, receipt

LIMITS = Limits()


def test_a_valid_batch_decodes(register: Register) -> None:
    envelopes = register.run(3)
    batch = decode_batch(pb.IngestBatch(envelopes=envelopes).SerializeToString(), LIMITS)
    assert [e.seq for e in batch.envelopes] == [1, 2, 3]
    event = decode_envelope(batch.envelopes[0], LIMITS)
    assert event is not None and event.receipt.total == receipt(prices=(100,)).receipt.total


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
    # Over a hard limit, the same envelopes in smaller batches pass: the register is told to retry.
    assert errors.lookup(code).retryable == (errors.lookup(code).http_status == 413)


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


def _long_reason(chars: int) -> bytes:
    return pb.Event(time_ms=1, gap_notice=pb.GapNotice(reason="x" * chars)).SerializeToString()


def _findings(envelope: pb.Envelope, limits: Limits = LIMITS) -> list[tuple[str, int, str]]:
    return [(f.kind, f.line, f.detail) for f in decode_envelope_parts(envelope, limits).findings]


@pytest.mark.parametrize(
    ("event", "kinds", "parsed"),
    [
        (b"\xff\xff", ["undecodable_event"], False),
        (pb.Event(time_ms=1).SerializeToString(), ["empty_event"], True),
        (b"\x08\x01" + b"\x00" * LIMITS.max_event_bytes, ["oversize_event", "undecodable_event"], False),
        (_long_reason(LIMITS.max_event_bytes), ["oversize_event", "field_too_long"], True),
    ],
)
def test_signed_content_that_breaks_a_limit_is_a_finding(
    register: Register, event: bytes, kinds: list[str], parsed: bool
) -> None:
    envelope = register.envelope(event)
    assert [kind for kind, _, _ in _findings(envelope)] == kinds
    assert (decode_envelope(envelope, LIMITS) is not None) == parsed


def test_too_many_lines(register: Register) -> None:
    event = receipt(prices=[100] * 6)
    assert _findings(register.envelope(event), replace(LIMITS, max_lines=5)) == [
        ("too_many_lines", 0, "6 receipt lines, the limit is 5")
    ]
    assert _findings(register.envelope(event), replace(LIMITS, max_lines=6)) == []


def test_too_many_marking_codes_on_a_line(register: Register) -> None:
    event = receipt()
    event.receipt.lines[1].marking_codes.extend(["0104600000000010215abcde\x1d93abcd"] * 4)
    assert _findings(register.envelope(event), replace(LIMITS, max_codes_per_line=3)) == [
        ("too_many_codes", 2, "line 2 has 4 marking codes, the limit is 3")
    ]


@pytest.mark.parametrize("where", ["cashier", "line name", "marking code", "buyer email"])
def test_any_string_in_the_event_over_the_limit_is_a_finding(register: Register, where: str) -> None:
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
    ((kind, _, detail),) = _findings(register.envelope(event))
    assert kind == "field_too_long" and detail.startswith(path + " ")


def test_a_string_at_the_limit_is_fine(register: Register) -> None:
    event = receipt()
    event.receipt.cashier = "ж" * LIMITS.max_string_chars
    decoded = decode_envelope_parts(register.envelope(event), LIMITS)
    assert decoded.event is not None and decoded.event.receipt.cashier.startswith("ж")
    assert decoded.findings == ()

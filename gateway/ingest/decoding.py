"""Decoding stage: parse an IngestBatch and each envelope's Event under hard limits, before any crypto."""

from __future__ import annotations

from typing import NamedTuple

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message

from gateway import errors
from gateway.errors import ErrorCode, GatewayError
from gateway.settings import Limits
from gateway.wire import pb, signing

MAX_KEY_ID_CHARS = 64


class EnvelopeRejected(Exception):
    """One envelope is refused (the rest of the batch goes on); carries a stable event-level error code."""

    def __init__(self, error: ErrorCode, detail: str) -> None:
        super().__init__(detail)
        self.error = error
        self.detail = detail


def decode_batch(body: bytes, limits: Limits) -> pb.IngestBatch:
    """Parse a request body; raises a request-level GatewayError for an unusable batch."""
    if not body:
        raise GatewayError(errors.EMPTY_BODY)
    if len(body) > limits.max_body_bytes:
        raise GatewayError(
            errors.BODY_TOO_LARGE, f"body is {len(body)} bytes, the limit is {limits.max_body_bytes}"
        )
    try:
        batch = pb.IngestBatch.FromString(body)
    except DecodeError as exc:
        raise GatewayError(errors.MALFORMED_BATCH, f"not a valid IngestBatch: {exc}") from None
    if not batch.envelopes:
        raise GatewayError(errors.MALFORMED_BATCH, "the batch holds no envelopes")
    if len(batch.envelopes) > limits.max_envelopes:
        raise GatewayError(
            errors.TOO_MANY_ENVELOPES,
            f"{len(batch.envelopes)} envelopes, the limit is {limits.max_envelopes}",
        )
    return batch


def check_envelope_fields(envelope: pb.Envelope, limits: Limits) -> None:
    """Check the envelope's own fields (ids, hash and signature sizes); raises EnvelopeRejected."""
    device_bytes = len(envelope.device_id.encode("utf-8"))
    if device_bytes == 0:
        raise EnvelopeRejected(errors.MALFORMED_ENVELOPE, "device_id is empty")
    if device_bytes > signing.MAX_DEVICE_ID_BYTES:
        raise EnvelopeRejected(
            errors.FIELD_TOO_LONG,
            f"device_id is {device_bytes} bytes, the limit is {signing.MAX_DEVICE_ID_BYTES}",
        )
    if envelope.seq == 0:
        raise EnvelopeRejected(errors.MALFORMED_ENVELOPE, "seq starts at 1")
    if len(envelope.prev_hash) != signing.HASH_LEN:
        raise EnvelopeRejected(
            errors.MALFORMED_ENVELOPE, f"prev_hash is {len(envelope.prev_hash)} bytes, it must be 32"
        )
    if len(envelope.signature) != signing.SIGNATURE_LEN:
        raise EnvelopeRejected(
            errors.MALFORMED_ENVELOPE,
            f"signature is {len(envelope.signature)} bytes, it must be 64 (raw r||s)",
        )
    key_id = envelope.key_id
    if not key_id:
        raise EnvelopeRejected(errors.MALFORMED_ENVELOPE, "key_id is empty")
    if len(key_id) > MAX_KEY_ID_CHARS:
        raise EnvelopeRejected(errors.FIELD_TOO_LONG, f"key_id is longer than {MAX_KEY_ID_CHARS} characters")
    event_size = len(envelope.event)
    if event_size > limits.max_event_bytes:
        raise EnvelopeRejected(
            errors.FIELD_TOO_LONG, f"event is {event_size} bytes, the limit is {limits.max_event_bytes}"
        )


def _check_strings(message: Message, limits: Limits, path: str) -> None:
    # One generic walk covers every string of every event kind, including ones added to the proto later.
    # The path text is only built for the error (building it for every field was most of the walk's cost).
    limit = limits.max_string_chars
    for field, value in message.ListFields():
        kind = field.type
        if kind == _MESSAGE:
            if field.is_repeated:
                for index, item in enumerate(value):
                    _check_strings(item, limits, f"{_join(path, field.name)}[{index + 1}]")
            else:
                _check_strings(value, limits, _join(path, field.name))
        elif kind in _TEXT:
            for item in value if field.is_repeated else (value,):
                if len(item) > limit:
                    raise EnvelopeRejected(
                        errors.FIELD_TOO_LONG,
                        f"{_join(path, field.name)} is {len(item)} long, the limit is {limit}",
                    )


_MESSAGE = FieldDescriptor.TYPE_MESSAGE
_TEXT = frozenset((FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


class Decoded(NamedTuple):
    """A parsed event and its receipt's marking codes, read once here for the later stages.

    Each read of a upb repeated field makes a new container (about 0.5 µs for a line's marking codes):
    the code stages take these lists instead of reading again.
    """

    event: pb.Event
    line_codes: list[list[str]]  # each line's marking codes, in line order; [] for other events


def decode_event_parts(envelope: pb.Envelope, limits: Limits) -> Decoded:
    """Parse the signed event bytes and apply the content limits; raises EnvelopeRejected.

    The receipt's marking codes come with the event, as lists (see Decoded).
    """
    event_bytes = envelope.event  # each read of a bytes field copies it
    try:
        event = pb.Event.FromString(event_bytes)
    except DecodeError:
        raise EnvelopeRejected(errors.MALFORMED_EVENT, "the event bytes are not a valid Event") from None
    kind = event.WhichOneof("body")
    if kind is None:
        raise EnvelopeRejected(errors.MALFORMED_EVENT, "the event has no body (receipt, shift_open, …)")
    line_codes: list[list[str]] = []
    if kind == "receipt":
        receipt_lines = event.receipt.lines
        if len(receipt_lines) > limits.max_lines:
            raise EnvelopeRejected(
                errors.TOO_MANY_LINES, f"{len(receipt_lines)} receipt lines, the limit is {limits.max_lines}"
            )
        # lines[:] (a list) rather than lines: upb's repeated fields have no __iter__, so a plain loop
        # indexes until a formatted IndexError ends it (~2,000 instructions a loop); a slice is one call.
        line_codes = [line.marking_codes[:] for line in receipt_lines[:]]
        for number, codes in enumerate(line_codes, start=1):
            if len(codes) > limits.max_codes_per_line:
                raise EnvelopeRejected(
                    errors.FIELD_TOO_LONG,
                    f"line {number} has {len(codes)} marking codes, the limit is {limits.max_codes_per_line}",
                )
    # A string or bytes field cannot be longer than the bytes it is encoded in (UTF-8 has at least one
    # byte per character), so an event no longer than the string limit needs no walk: the usual case,
    # and the walk is most of decoding's cost (about 60 µs for a receipt of 5 lines).
    if len(event_bytes) > limits.max_string_chars:
        _check_strings(event, limits, "")
    return Decoded(event, line_codes)


def decode_envelope(envelope: pb.Envelope, limits: Limits) -> pb.Event:
    """All per-envelope decoding checks, then the parsed Event; raises EnvelopeRejected."""
    return decode_envelope_parts(envelope, limits).event


def decode_envelope_parts(envelope: pb.Envelope, limits: Limits) -> Decoded:
    """decode_envelope, with the receipt's marking codes as lists (see Decoded)."""
    check_envelope_fields(envelope, limits)
    return decode_event_parts(envelope, limits)

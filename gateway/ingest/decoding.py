"""Decoding stage: parse an IngestBatch and each envelope's Event under hard limits, before any crypto.

What protects the gateway (body size, envelopes per batch) refuses the whole request before anything is
chained. An envelope whose own fields cannot be authenticated (ids, seq, hash and signature sizes) is
rejected. The signed event's content is never a reason to refuse: a register cannot un-sign an event, so
refusing an authentic one would block its chain for ever. Content over the limits (lines, codes per
line, string lengths, event size), an event without a body or bytes that are not an Event at all become
findings on an event that is accepted once authentic, kept as the bytes it was signed as.
"""

from __future__ import annotations

from typing import NamedTuple

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message

from gateway import errors
from gateway.errors import EnvelopeRejected, GatewayError
from gateway.settings import Limits
from gateway.wire import pb, signing

MAX_KEY_ID_CHARS = 64


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


def _too_long(message: Message, limit: int, path: str) -> str | None:
    """The path and length of the first string or bytes field longer than limit, or None."""
    # One generic walk covers every string of every event kind, including ones added to the proto later.
    # The path text is only built for the answer (building it for every field was most of the walk's cost).
    for field, value in message.ListFields():
        kind = field.type
        if kind == _MESSAGE:
            items = enumerate(value, start=1) if field.is_repeated else ((0, value),)
            for index, item in items:
                where = f"{_join(path, field.name)}[{index}]" if index else _join(path, field.name)
                found = _too_long(item, limit, where)
                if found:
                    return found
        elif kind in _TEXT:
            for item in value if field.is_repeated else (value,):
                if len(item) > limit:
                    return f"{_join(path, field.name)} is {len(item)} long, the limit is {limit}"
    return None


_MESSAGE = FieldDescriptor.TYPE_MESSAGE
_TEXT = frozenset((FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


class Decoded(NamedTuple):
    """A parsed event and its receipt's marking codes, read once here for the later stages.

    Each read of a upb repeated field makes a new container (about 0.5 µs for a line's marking codes):
    the code stages take these lists instead of reading again.
    """

    event: pb.Event | None  # None: the signed bytes are not an Event (kept as they are, an anomaly)
    line_codes: list[list[str]]  # each line's marking codes, in line order; [] for other events
    findings: tuple[pb.Finding, ...] = ()  # content over the limits: anomalies of an accepted event


def _finding(kind: str, detail: str, line: int = 0) -> pb.Finding:
    return pb.Finding(kind=kind, line=line, detail=detail)


def decode_event_parts(envelope: pb.Envelope, limits: Limits) -> Decoded:
    """Parse the signed event bytes; what breaks the content limits comes back as findings, not errors.

    The receipt's marking codes come with the event, as lists (see Decoded).
    """
    event_bytes = envelope.event  # each read of a bytes field copies it
    findings: list[pb.Finding] = []
    if len(event_bytes) > limits.max_event_bytes:
        findings.append(_finding(
            "oversize_event", f"event is {len(event_bytes)} bytes, the limit is {limits.max_event_bytes}"))
    try:
        event = pb.Event.FromString(event_bytes)
    except DecodeError:
        findings.append(_finding("undecodable_event", "the signed event bytes are not a valid Event"))
        return Decoded(None, [], tuple(findings))
    kind = event.WhichOneof("body")
    if kind is None:
        findings.append(_finding("empty_event", "the event has no body (receipt, shift_open, …)"))
    line_codes: list[list[str]] = []
    if kind == "receipt":
        receipt_lines = event.receipt.lines
        if len(receipt_lines) > limits.max_lines:
            findings.append(_finding(
                "too_many_lines", f"{len(receipt_lines)} receipt lines, the limit is {limits.max_lines}"))
        # lines[:] (a list) rather than lines: upb's repeated fields have no __iter__, so a plain loop
        # indexes until a formatted IndexError ends it (~2,000 instructions a loop); a slice is one call.
        line_codes = [line.marking_codes[:] for line in receipt_lines[:]]
        for number, codes in enumerate(line_codes, start=1):
            if len(codes) > limits.max_codes_per_line:
                findings.append(_finding(
                    "too_many_codes",
                    f"line {number} has {len(codes)} marking codes, the limit is {limits.max_codes_per_line}",
                    number,
                ))
    # A string or bytes field cannot be longer than the bytes it is encoded in (UTF-8 has at least one
    # byte per character), so an event no longer than the string limit needs no walk: the usual case,
    # and the walk is most of decoding's cost (about 60 µs for a receipt of 5 lines).
    if len(event_bytes) > limits.max_string_chars:
        too_long = _too_long(event, limits.max_string_chars, "")
        if too_long:
            findings.append(_finding("field_too_long", too_long))
    return Decoded(event, line_codes, tuple(findings))


def decode_envelope(envelope: pb.Envelope, limits: Limits) -> pb.Event | None:
    """The envelope's field checks (raises EnvelopeRejected), then the parsed Event (None: not an Event)."""
    return decode_envelope_parts(envelope, limits).event


def decode_envelope_parts(envelope: pb.Envelope, limits: Limits) -> Decoded:
    """decode_envelope, with the receipt's marking codes as lists and the content findings (see Decoded)."""
    check_envelope_fields(envelope, limits)
    return decode_event_parts(envelope, limits)

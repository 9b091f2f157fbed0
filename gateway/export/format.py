"""The audit export file: JSON Lines, one record a line, closed by a manifest signed by the gateway.

docs/export.md is the specification; FIELDS below is the one definition of every record's fields, copied
into each file's header so the file describes itself (a test holds docs/export.md to it too).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from gateway.wire import signing

FORMAT = "tracegate-export"
VERSION = 1
EXPORT_TAG = b"TRACEGATE-EXPORT-V1\x00"
SPEC = "docs/export.md (tracegate)"
MEDIA_TYPE = "application/x-ndjson"

HEADER, DEVICE, EVENT, PROOF = "header", "device", "event", "proof"
MANIFEST, SIGNATURE = "manifest", "signature"
ATTESTED_BY_DEVICE, ATTESTED_BY_GATEWAY = "device", "gateway"
REGISTERED, ROTATION, REGISTERED_AFTER_REVOCATION = "registered", "rotation", "registered_after_revocation"

FIELDS: dict[str, dict[str, str]] = {
    HEADER: {
        "record": '"header": the first line',
        "format": f'"{FORMAT}"',
        "version": f"{VERSION}: the version of this format",
        "spec": "where the format is written down",
        "created_ms": "when the export began, ms since the Unix epoch (UTC)",
        "gateway_id": "the gateway node that wrote the file",
        "exported_by": "who asked: {principal (token id, never the token), scope}",
        "request": "what was asked: devices, seller TIN, seq and time range",
        "fields": "this table: every record's fields and what they mean",
    },
    DEVICE: {
        "record": '"device": opens the section of one device; its events follow it',
        "device_id": "the register's id",
        "seller_tin": "the seller (TIN/BIN) the register is registered to",
        "store_id": "the store",
        "status": "active or revoked, when the export was made",
        "protocol": "tracegate (signs its own events) or ofd (the OFD front door: token-authenticated)",
        "attested_by": "device: events are signed by the register's own key; gateway: by a key the "
        "gateway holds for the register (they prove what the gateway received, not what the register did)",
        "keys": "every key of the device, oldest first: {key_id, public_key (SEC1 uncompressed point, "
        "hex; null if the gateway no longer holds it), from_seq (first seq it signs), source (registered | "
        "rotation | registered_after_revocation), at_ms}",
        "revocations": "each revocation: {from_seq (no event from this seq on may carry the revoked "
        "key's signature), at_ms, compromised (true: the operator declared the key compromised from "
        "from_seq; false: revoked from then on)}",
        "gaps": "the signed gap notices in the exported range: {seq, first_missing_seq, last_missing_seq}",
        "from_seq": "the first seq exported (null: none)",
        "to_seq": "the last seq exported (null: none)",
        "head_seq": "the newest seq the gateway held for the device when the export was made (null: none)",
    },
    EVENT: {
        "record": '"event": one accepted envelope, as the register sent it',
        "device_id": "the envelope's device_id",
        "seq": "the envelope's seq",
        "prev_hash": "the envelope's prev_hash (hex)",
        "key_id": "the envelope's key_id",
        "signature": "the envelope's ES256 signature, raw r||s (base64); empty when the gateway kept none "
        "(it verified a later signature of the chain that covers this event)",
        "event": "the exact signed bytes of the Event (base64); absent when withheld (protection)",
        "received_ms": "when the gateway received it",
        "fiscal_sign": "the fiscal sign the gateway answered (checked by GET /v1/verify, not offline)",
        "protection": "absent: the event is here in clear; else why it is withheld: sealed (buyer data, "
        "encrypted in storage) or erased (buyer data without consent, or forgotten)",
        "kind": "withheld events only: receipt, … (the Event's body)",
        "event_sha256": "withheld events only: SHA-256 of the signed Event bytes (hex); the signature "
        "covers it. Absent only when the gateway holds neither the bytes nor their digest (an erased or no "
        "longer openable event stored before it kept digests)",
        "redacted_event": "withheld events only: the Event without the buyer's contacts, re-serialized "
        "by the gateway (base64); its content is attested by the gateway, not by the signature",
        "envelope_hash": "withheld events without event_sha256: the stored chain hash (hex)",
    },
    PROOF: {
        "record": '"proof": an envelope after the requested range, there only because its signature covers '
        "the range's last events (which carry none of their own); never part of the export's content",
        "device_id": "the envelope's device_id",
        "seq": "the envelope's seq",
        "prev_hash": "the envelope's prev_hash (hex)",
        "key_id": "the envelope's key_id",
        "signature": "the envelope's ES256 signature (base64): empty but on the last proof record (which "
        "may carry none either when it is the newest event the gateway held)",
        "event_sha256": "SHA-256 of the signed Event bytes (hex), in place of the bytes; absent only when "
        "the gateway holds neither (a withheld event stored before it kept digests)",
        "envelope_hash": "without event_sha256: the stored chain hash (hex)",
    },
    MANIFEST: {
        "record": '"manifest": after the last event',
        "format": f'"{FORMAT}"',
        "version": f"{VERSION}",
        "created_ms": "as in the header",
        "gateway_id": "as in the header",
        "exported_by": "as in the header",
        "devices": "per device: {device_id, events, from_seq, to_seq, first_prev_hash, last_hash (hex), "
        "withheld, proof_events}",
        "events": "event records in the file",
        "proof_events": "proof records in the file (not counted in events)",
        "lines": "lines before the manifest",
        "body_sha256": "SHA-256 of every byte of the file before the manifest line (hex)",
        "export_key": "the gateway's export key: {key_id, public_key (SEC1 hex), algorithm: ES256}",
    },
    SIGNATURE: {
        "record": '"signature": the last line',
        "algorithm": "ES256",
        "key_id": "the export key's id",
        "signature": "ES256 over TRACEGATE-EXPORT-V1 0x00 ‖ the manifest line's bytes (without its "
        "newline), raw r||s (base64)",
    },
}


class FormatError(ValueError):
    """A record is not what the format says (the text says what and where)."""


def b64(data: bytes) -> str:
    """Standard base64 with padding."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: Any, what: str) -> bytes:
    """Strict base64 of a field; FormatError if it is not."""
    if not isinstance(text, str):
        raise FormatError(f"{what} must be base64 text")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise FormatError(f"{what} is not valid base64") from None


def unhex(text: Any, what: str, size: int | None = None) -> bytes:
    """Hex of a field (of size bytes if given); FormatError if it is not."""
    if not isinstance(text, str):
        raise FormatError(f"{what} must be hex text")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise FormatError(f"{what} is not hex") from None
    if size is not None and len(raw) != size:
        raise FormatError(f"{what} must be {size} bytes, it is {len(raw)}")
    return raw


def line(record: dict[str, Any]) -> bytes:
    """One record as its line: compact JSON, UTF-8, LF."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def manifest_preimage(manifest_line: bytes) -> bytes:
    """The bytes the export key signs: the tag and the manifest line without its newline."""
    return EXPORT_TAG + manifest_line.rstrip(b"\n")


def verify_manifest_signature(public_key: bytes, manifest_line: bytes, signature: bytes) -> bool:
    """True if signature is the export key's ES256 signature over the manifest line."""
    try:
        key = signing.load_public_key_point(public_key)
    except ValueError:
        return False
    return signing.verify_signature(key, manifest_preimage(manifest_line), signature)

"""How events carrying buyer personal data are stored: sealed under a per-receipt key, or not at all.

A receipt with buyer contacts and a valid consent gets a random data key. The event bytes (which hold
the contacts in clear and must stay byte-exact for the signature) are stored in `events.event` encrypted
under that key (AES-GCM, the envelope hash as associated data), and so are the contacts in
`receipt_buyers`; the data key itself is stored only in the `receipt_buyers` row, wrapped under the
operator's current PII key. Deleting that row (consent expired → TTL, or `pii forget`) therefore
crypto-shreds the event bytes too: no mutation of `events` is needed. A receipt with contacts but no valid
consent keeps neither: its event bytes are not stored (signature and hash are), protection = "erased".
The evidence an event was made from (an OFD register's request frame, gateway/ofd) holds the same buyer
data, so it is stored as the event bytes are: in clear, sealed under the same data key, or not at all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from gateway.security.pii_keys import PiiKeyRing, open_with, seal_with
from gateway.security.receipt_checks import buyer_storable, has_contacts
from gateway.wire import pb

CLEAR = ""
SEALED = "sealed"
ERASED = "erased"
CONTACT_KINDS = ("email", "phone", "iin")


@dataclass(frozen=True)
class StoredEvent:
    """What the events row keeps of an event, and the receipt_buyers row if there is one."""

    event_bytes: bytes
    protection: str
    buyer_row: dict[str, Any] | None = None
    evidence: bytes = b""  # the record's evidence (ofd_frame) as stored: same protection as the event


def _wrap_aad(device_id: str, seq: int) -> bytes:
    return f"tracegate-pii-dek:{device_id}:{seq}".encode()


def _field_aad(kind: str, device_id: str, seq: int) -> bytes:
    return f"tracegate-pii-{kind}:{device_id}:{seq}".encode()


def contains_buyer(event: pb.Event | None) -> bool:
    """True if the event is a receipt naming a buyer."""
    return event is not None and event.WhichOneof("body") == "receipt" and has_contacts(event.receipt.buyer)


def protect_event(ring: PiiKeyRing | None, record: pb.JournalRecord, event: pb.Event | None) -> StoredEvent:
    """Decide how one accepted event (and its evidence) is stored (see the module docstring)."""
    env = record.envelope
    if not contains_buyer(event):
        return StoredEvent(env.event, CLEAR, evidence=record.ofd_frame)
    assert event is not None
    if ring is None or not buyer_storable(event):
        return StoredEvent(b"", ERASED)
    buyer = event.receipt.buyer
    data_key = os.urandom(32)
    key_id, wrapped = ring.seal(data_key, _wrap_aad(env.device_id, env.seq))
    row: dict[str, Any] = {
        "seller_tin": record.seller_tin,
        "device_id": env.device_id,
        "seq": env.seq,
        "event_time": event.time_ms,
        "consent_purpose": buyer.consent_purpose,
        "consent_expires_at": buyer.consent_expires_ms,
        "key_id": key_id,
        "wrapped_key": wrapped,
    }
    for kind in CONTACT_KINDS:
        value = str(getattr(buyer, kind))
        row[kind] = (
            seal_with(data_key, value.encode(), _field_aad(kind, env.device_id, env.seq)) if value else b""
        )
        row[f"{kind}_hash"] = ring.lookup_hash(kind, value) if value else ""
    sealed = seal_with(data_key, env.event, record.envelope_hash)
    evidence = record.ofd_frame
    if evidence:
        evidence = seal_with(data_key, evidence, _field_aad("evidence", env.device_id, env.seq))
    return StoredEvent(sealed, SEALED, row, evidence)


def open_buyer(ring: PiiKeyRing, row: dict[str, Any]) -> dict[str, str]:
    """The clear contacts of one receipt_buyers row (for an operator holding the key ring)."""
    data_key = ring.open(
        str(row["key_id"]), bytes(row["wrapped_key"]), _wrap_aad(row["device_id"], row["seq"])
    )
    out: dict[str, str] = {}
    for kind in CONTACT_KINDS:
        blob = bytes(row[kind])
        out[kind] = (
            open_with(data_key, blob, _field_aad(kind, row["device_id"], row["seq"])).decode() if blob else ""
        )
    return out


def open_event(ring: PiiKeyRing, row: dict[str, Any], sealed_event: bytes, envelope_hash: bytes) -> bytes:
    """The exact signed event bytes of a sealed event, given its receipt_buyers row (for re-verification)."""
    data_key = ring.open(
        str(row["key_id"]), bytes(row["wrapped_key"]), _wrap_aad(row["device_id"], row["seq"])
    )
    return open_with(data_key, sealed_event, envelope_hash)


def open_evidence(ring: PiiKeyRing, row: dict[str, Any], sealed_evidence: bytes) -> bytes:
    """The evidence (OFD frame) of a sealed event, given its receipt_buyers row."""
    data_key = ring.open(
        str(row["key_id"]), bytes(row["wrapped_key"]), _wrap_aad(row["device_id"], row["seq"])
    )
    return open_with(data_key, sealed_evidence, _field_aad("evidence", row["device_id"], row["seq"]))


def strip_rejected(envelope: pb.Envelope, event: pb.Event | None) -> pb.Envelope:
    """A rejected envelope as the rejections table may keep it: without event bytes naming a buyer."""
    if not contains_buyer(event):
        return envelope
    stripped = pb.Envelope()
    stripped.CopyFrom(envelope)
    stripped.ClearField("event")
    return stripped

"""How events carrying buyer personal data are kept: sealed under a per-receipt key, or not at all.

The ingest stage decides, before the journal (protect_record): the journal, its quarantine and every row
built from them then hold the contacts only sealed. A receipt with buyer contacts and a valid consent
gets a random data key. The exact signed event bytes (which hold the contacts in clear and must stay
byte-exact for the signature) are kept encrypted under that key (AES-GCM, the envelope hash as associated
data), and so are the contacts; the data key itself is kept only wrapped under the operator's current
PII key, in the receipt_buyers row. The journal record's `envelope.event` becomes the event without its
buyer (what rows are built from) and `sealed` holds the rest. Deleting the receipt_buyers row (consent
expired → TTL, or `pii forget`) crypto-shreds the sealed bytes in `events`. Contacts without a valid
consent, and buyer data anywhere but in one plain receipt's buyer field (a receipt hidden under another
body of the oneof, a second receipt, a non-canonical encoding, bytes that do not parse), are not kept at
all: protection "erased". Refused envelopes keep no event bytes that may name a buyer. The evidence an
event was made from (an OFD register's request frame, gateway/ofd) holds the same buyer data, so it is
kept as the event bytes are: sealed under the same data key (`sealed.evidence`), or not at all. A frame
may also hold buyer data its event does not (its printed text, free key-value pairs: ofd_buyer_text.py);
with no buyer and consent to seal it for, such evidence is not kept (finding pii_without_consent), while
the event bytes, which hold none of it, are kept as any event's.

The envelope hash commits to the signed bytes, and the device's signature is over it (ES256 signs the
SHA-256 of the preimage, which is the envelope hash): without the bytes the signature still verifies,
and any copy of the bytes (the buyer's e-receipt, the register's journal) can be checked against it.
Sealed or erased, the SHA-256 of the signed bytes is kept (`sealed.event_sha256`, then
events.event_sha256): with the row's device, seq and prev_hash it is the preimage, so an audit export
proves the event's signature and its place in the chain without the bytes. It tells no more than the
envelope hash, which is computed from it and those stored fields.
"""

from __future__ import annotations

import enum
import hashlib
import os
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError

from gateway.security.ofd_buyer_text import BUYERS_OWN, buyer_text_in_frame
from gateway.security.pii_keys import PiiKeyRing, open_with, seal_with
from gateway.security.receipt_checks import PII_WITHOUT_CONSENT, buyer_storable, has_contacts
from gateway.wire import pb

CLEAR = ""
SEALED = "sealed"
ERASED = "erased"
CONTACT_KINDS = ("email", "phone", "iin")
_HIDDEN_DETAIL = (
    "buyer contacts outside one plain receipt's buyer field (another body of the event, a second receipt, "
    "bytes not in their canonical form, or bytes that are no event): they are not stored"
)
_NO_CONSENT_DETAIL = "buyer contacts without a consent purpose and a future expiry: they are not stored"


class Buyer(enum.Enum):
    """What an event's bytes hold of a buyer."""

    NONE = "none"  # provably nothing: no receipt anywhere in the bytes names a buyer
    PLAIN = "plain"  # one receipt, canonical bytes, its buyer field names the contacts
    HIDDEN = "hidden"  # buyer data, or bytes that may hold some, that cannot be attributed to one receipt


@dataclass(frozen=True)
class StoredEvent:
    """What the events row keeps of an event, and the receipt_buyers row if there is one."""

    event_bytes: bytes
    protection: str
    buyer_row: dict[str, Any] | None = None
    evidence: bytes = b""  # the record's evidence (ofd_frame) as stored: same protection as the event
    signed_sha256: bytes = b""  # sealed or erased: the SHA-256 of the signed bytes, b"" if not journalled

    @property
    def event_sha256(self) -> bytes:
        """The SHA-256 of the exact signed event bytes (events.event_sha256); b"" when it is not known."""
        return hashlib.sha256(self.event_bytes).digest() if self.protection == CLEAR else self.signed_sha256


def _wrap_aad(device_id: str, seq: int) -> bytes:
    return f"tracegate-pii-dek:{device_id}:{seq}".encode()


def _field_aad(kind: str, device_id: str, seq: int) -> bytes:
    return f"tracegate-pii-{kind}:{device_id}:{seq}".encode()


def buyer_in(event_bytes: bytes, event: pb.Event | None = None) -> Buyer:
    """What event_bytes hold of a buyer; event: their parse, if made already.

    The parsed Event is not enough: a oneof keeps only its last body and repeated messages merge, so
    the signed bytes can hold a receipt (and its buyer) the parse does not show. EventReceipts reads every
    receipt on the wire; the usual event has none, or one without a buyer (one small parse, ~1 µs).
    """
    if not event_bytes:
        return Buyer.NONE
    try:
        if event is None:
            event = pb.Event.FromString(event_bytes)
        receipts = pb.EventReceipts.FromString(event_bytes).receipt
    except DecodeError:
        return Buyer.HIDDEN  # cannot tell what they hold
    if not receipts:
        return Buyer.NONE
    if len(receipts) == 1 and event.HasField("receipt"):
        if not event.receipt.HasField("buyer"):
            return Buyer.NONE
        # A buyer field given twice merges into one: only bytes that are exactly the canonical form of
        # what they parse to show every contact they hold.
        if event.SerializeToString(deterministic=True) != event_bytes:
            return Buyer.HIDDEN
        return Buyer.PLAIN if has_contacts(event.receipt.buyer) else Buyer.NONE
    for receipt_bytes in receipts:
        try:
            if pb.Receipt.FromString(receipt_bytes).HasField("buyer"):
                return Buyer.HIDDEN
        except DecodeError:
            return Buyer.HIDDEN
    return Buyer.NONE


def protect_record(ring: PiiKeyRing | None, record: pb.JournalRecord, event: pb.Event | None) -> None:
    """Make a journal record fit to keep (before it is journalled): see the module docstring.

    record: filled but for this (envelope, envelope_hash, accepted, findings); event: the parse of its
    event bytes (None if they did not parse). Records naming no buyer are left as they are.
    """
    envelope = record.envelope
    event_bytes = envelope.event
    found = buyer_in(event_bytes, event)
    if found is Buyer.NONE:
        if record.ofd_frame:  # only the OFD front door's records carry one
            _drop_evidence_naming_buyer(record)
        return
    evidence = record.ofd_frame
    record.ClearField("ofd_frame")
    if not record.accepted:
        envelope.ClearField("event")
        return
    if event is None:  # accepted yet not parsed (not today's pipeline): nothing to build rows from either
        event = pb.Event()
    sealed = record.sealed
    # What an audit export needs to check the signature without the bytes (nothing the envelope hash, which
    # commits to the same bytes, does not already tell: docs/security.md).
    sealed.event_sha256 = hashlib.sha256(event_bytes).digest()
    if found is Buyer.PLAIN and ring is not None and buyer_storable(event):
        data_key = os.urandom(32)
        _fill_buyer(sealed.buyer, ring, data_key, envelope, event)
        sealed.event = seal_with(data_key, event_bytes, record.envelope_hash)
        if evidence:
            aad = _field_aad("evidence", envelope.device_id, envelope.seq)
            sealed.evidence = seal_with(data_key, evidence, aad)
        sealed.protection = SEALED
    else:
        sealed.protection = ERASED
        if found is Buyer.HIDDEN:
            detail = _HIDDEN_DETAIL
        elif ring is None:
            detail = "buyer contacts, and no PII key ring to seal them under: they are not stored"
        else:
            detail = _NO_CONSENT_DETAIL
        record.findings.add(kind=PII_WITHOUT_CONSENT, detail=detail)
    without_buyer = pb.Event()
    without_buyer.CopyFrom(event)
    if without_buyer.HasField("receipt"):
        without_buyer.receipt.ClearField("buyer")
    envelope.event = without_buyer.SerializeToString()


def _drop_evidence_naming_buyer(record: pb.JournalRecord) -> None:
    """An event naming no buyer whose evidence may (free text of the OFD frame: ofd_buyer_text.py): no
    consent covers what the frame holds and there is no data key to seal it under, so the evidence is not
    kept, as for buyer contacts without consent. The event bytes hold none of it and stay as they are."""
    where = buyer_text_in_frame(record.ofd_frame)
    if not where:
        return
    record.ClearField("ofd_frame")
    # Said only where the buyer's own part was sent: a register that prints its receipts' text or sends
    # key-value pairs on every document would otherwise raise a finding a document.
    if record.accepted and where in BUYERS_OWN:
        detail = f"the OFD frame's {where} holds buyer data, no consent covers it: the frame is not kept"
        record.findings.add(kind=PII_WITHOUT_CONSENT, detail=detail)


def _fill_buyer(
    buyer_row: pb.SealedBuyer, ring: PiiKeyRing, data_key: bytes, envelope: pb.Envelope, event: pb.Event
) -> None:
    buyer = event.receipt.buyer
    device_id, seq = envelope.device_id, envelope.seq
    buyer_row.event_time_ms = event.time_ms
    buyer_row.consent_purpose = buyer.consent_purpose
    buyer_row.consent_expires_ms = buyer.consent_expires_ms
    buyer_row.key_id, buyer_row.wrapped_key = ring.seal(data_key, _wrap_aad(device_id, seq))
    for kind in CONTACT_KINDS:
        value = str(getattr(buyer, kind))
        if value:
            setattr(buyer_row, kind, seal_with(data_key, value.encode(), _field_aad(kind, device_id, seq)))
            setattr(buyer_row, f"{kind}_hash", ring.lookup_hash(kind, value))


def stored_event(ring: PiiKeyRing | None, record: pb.JournalRecord, event: pb.Event | None) -> StoredEvent:
    """What an accepted record's events row keeps of its event bytes, and its receipt_buyers row."""
    if record.HasField("sealed"):
        sealed = record.sealed
        row = _buyer_row(record) if sealed.HasField("buyer") else None
        return StoredEvent(sealed.event, sealed.protection, row, sealed.evidence, sealed.event_sha256)
    return _protect_unsealed(ring, record, event)


def _buyer_row(record: pb.JournalRecord) -> dict[str, Any]:
    buyer = record.sealed.buyer
    row: dict[str, Any] = {
        "seller_tin": record.seller_tin,
        "device_id": record.envelope.device_id,
        "seq": record.envelope.seq,
        "event_time": buyer.event_time_ms,
        "consent_purpose": buyer.consent_purpose,
        "consent_expires_at": buyer.consent_expires_ms,
        "key_id": buyer.key_id,
        "wrapped_key": buyer.wrapped_key,
    }
    for kind in CONTACT_KINDS:
        row[kind] = getattr(buyer, kind)
        row[f"{kind}_hash"] = getattr(buyer, f"{kind}_hash")
    return row


def _protect_unsealed(
    ring: PiiKeyRing | None, record: pb.JournalRecord, event: pb.Event | None
) -> StoredEvent:
    """A record journalled before the ingest stage sealed buyer data (a journal from an older version):
    the same decision, made while its rows are built."""
    copy = pb.JournalRecord()
    copy.envelope.CopyFrom(record.envelope)
    copy.accepted, copy.envelope_hash, copy.seller_tin = True, record.envelope_hash, record.seller_tin
    copy.ofd_frame = record.ofd_frame
    protect_record(ring, copy, event)
    if not copy.HasField("sealed"):
        return StoredEvent(record.envelope.event, CLEAR, evidence=copy.ofd_frame)
    return stored_event(ring, copy, event)


def kept_envelope(envelope: pb.Envelope) -> pb.Envelope:
    """A refused envelope as the rejections table may keep it: without event bytes that may name a buyer
    (those refused since ingest sealed buyer data are journalled so already)."""
    if buyer_in(envelope.event) is Buyer.NONE:
        return envelope
    kept = pb.Envelope()
    kept.CopyFrom(envelope)
    kept.ClearField("event")
    return kept


def names_person(record: pb.JournalRecord, hashes: dict[str, str]) -> bool:
    """Whether a journal record holds sealed data of the person with these lookup hashes (by kind)."""
    buyer = record.sealed.buyer
    return any(value and getattr(buyer, f"{kind}_hash") == value for kind, value in hashes.items())


def forget_in_record(record: pb.JournalRecord) -> None:
    """Erase a record's sealed buyer data (pii forget on a record not shipped, or set aside); the digest
    of the signed bytes stays, as for any erased event."""
    record.sealed.ClearField("buyer")
    record.sealed.ClearField("event")
    record.sealed.protection = ERASED


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

"""The records of an export file as Python values: built by the gateway, parsed by the verifier."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from gateway.export.format import DEVICE, EVENT, PROOF, FormatError, b64, unb64, unhex
from gateway.wire import pb


@dataclass(frozen=True)
class KeyEntry:
    """One key of a device's history."""

    key_id: str
    public_key: bytes | None  # SEC1 uncompressed point; None: the gateway no longer holds it
    from_seq: int
    source: str
    at_ms: int

    def to_json(self) -> dict[str, Any]:
        """As in the device record."""
        return {
            "key_id": self.key_id,
            "public_key": None if self.public_key is None else self.public_key.hex(),
            "from_seq": self.from_seq,
            "source": self.source,
            "at_ms": self.at_ms,
        }


@dataclass(frozen=True)
class Revocation:
    """A revocation of the device's key in force from from_seq."""

    from_seq: int
    at_ms: int
    compromised: bool

    def to_json(self) -> dict[str, Any]:
        """As in the device record."""
        return {"from_seq": self.from_seq, "at_ms": self.at_ms, "compromised": self.compromised}


@dataclass(frozen=True)
class GapEntry:
    """A signed gap notice: the event at seq declares first..last lost."""

    seq: int
    first_missing_seq: int
    last_missing_seq: int

    def to_json(self) -> dict[str, Any]:
        """As in the device record."""
        return {
            "seq": self.seq,
            "first_missing_seq": self.first_missing_seq,
            "last_missing_seq": self.last_missing_seq,
        }


@dataclass(frozen=True)
class DeviceEntry:
    """The device record that opens a device's section."""

    device_id: str
    seller_tin: str
    store_id: str
    status: str
    protocol: str
    attested_by: str
    keys: tuple[KeyEntry, ...]
    revocations: tuple[Revocation, ...] = ()
    gaps: tuple[GapEntry, ...] = ()
    from_seq: int | None = None
    to_seq: int | None = None
    head_seq: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The device record."""
        return {
            "record": DEVICE,
            "device_id": self.device_id,
            "seller_tin": self.seller_tin,
            "store_id": self.store_id,
            "status": self.status,
            "protocol": self.protocol,
            "attested_by": self.attested_by,
            "keys": [k.to_json() for k in self.keys],
            "revocations": [r.to_json() for r in self.revocations],
            "gaps": [g.to_json() for g in self.gaps],
            "from_seq": self.from_seq,
            "to_seq": self.to_seq,
            "head_seq": self.head_seq,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> DeviceEntry:
        """Parse a device record; FormatError says which field is wrong."""
        try:
            keys = tuple(
                KeyEntry(
                    str(k["key_id"]),
                    None if k["public_key"] is None else unhex(k["public_key"], "public_key", 65),
                    _int(k["from_seq"]),
                    str(k["source"]),
                    _int(k["at_ms"]),
                )
                for k in raw["keys"]
            )
            revocations = tuple(
                Revocation(_int(r["from_seq"]), _int(r["at_ms"]), bool(r["compromised"]))
                for r in raw["revocations"]
            )
            gaps = tuple(
                GapEntry(_int(g["seq"]), _int(g["first_missing_seq"]), _int(g["last_missing_seq"]))
                for g in raw["gaps"]
            )
            return cls(
                _text(raw["device_id"]),
                str(raw["seller_tin"]),
                str(raw["store_id"]),
                str(raw["status"]),
                str(raw["protocol"]),
                str(raw["attested_by"]),
                keys,
                revocations,
                gaps,
                _optional_int(raw["from_seq"]),
                _optional_int(raw["to_seq"]),
                _optional_int(raw["head_seq"]),
            )
        except (KeyError, TypeError) as exc:
            raise FormatError(f"device record: missing or malformed field {exc}") from None


@dataclass(slots=True)
class EventEntry:
    """One event record: the envelope as the register sent it, and what the gateway kept of it."""

    device_id: str
    seq: int
    prev_hash: bytes
    key_id: str
    signature: bytes
    event: bytes | None
    received_ms: int
    fiscal_sign: str
    protection: str = ""
    kind: str = ""
    event_sha256: bytes | None = None
    redacted_event: bytes | None = None
    envelope_hash: bytes | None = None

    def to_json(self) -> dict[str, Any]:
        """The event record (withheld fields only for a withheld event)."""
        out = _envelope_json(EVENT, self)
        if self.event is not None:
            out["event"] = b64(self.event)
        out["received_ms"] = self.received_ms
        out["fiscal_sign"] = self.fiscal_sign
        if self.event is None:
            out["protection"] = self.protection
            out["kind"] = self.kind
            if self.event_sha256 is not None:
                out["event_sha256"] = self.event_sha256.hex()
            if self.redacted_event is not None:
                out["redacted_event"] = b64(self.redacted_event)
            if self.envelope_hash is not None:
                out["envelope_hash"] = self.envelope_hash.hex()
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> EventEntry:
        """Parse an event record; FormatError says which field is wrong."""
        try:
            event = raw.get("event")
            entry = cls(
                *_envelope_fields(raw),
                None if event is None else unb64(event, "event"),
                _int(raw["received_ms"]),
                str(raw["fiscal_sign"]),
            )
        except (KeyError, TypeError) as exc:
            raise FormatError(f"event record: missing or malformed field {exc}") from None
        if event is None:
            entry.protection = str(raw.get("protection") or "")
            if not entry.protection:
                raise FormatError("event record: neither the event nor why it is withheld (protection)")
            entry.kind = str(raw.get("kind") or "")
            if "event_sha256" in raw:
                entry.event_sha256 = unhex(raw["event_sha256"], "event_sha256", 32)
            if "redacted_event" in raw:
                entry.redacted_event = unb64(raw["redacted_event"], "redacted_event")
            if "envelope_hash" in raw:
                entry.envelope_hash = unhex(raw["envelope_hash"], "envelope_hash", 32)
            if entry.event_sha256 is None and entry.envelope_hash is None:
                raise FormatError("event record: a withheld event needs event_sha256 or envelope_hash")
        return entry


def redacted(event_bytes: bytes) -> bytes:
    """A withheld event as the export shows it: re-serialized without the buyer's contacts."""
    event = pb.Event.FromString(event_bytes)
    if event.WhichOneof("body") == "receipt":
        event.receipt.ClearField("buyer")
    return event.SerializeToString(deterministic=True)


def withheld_event(
    entry: EventEntry, protection: str, kind: str, clear: bytes | None, event_sha256: bytes,
    envelope_hash: bytes,
) -> EventEntry:
    """entry without its event bytes: their digest and redacted copy if the clear bytes are known (opened
    by the gateway, never written), else the digest stored with the row (event_sha256), else (a row stored
    before the gateway kept it: b"") the stored chain hash alone."""
    entry.event, entry.protection, entry.kind = None, protection, kind
    if clear is not None:
        entry.event_sha256, entry.redacted_event = hashlib.sha256(clear).digest(), redacted(clear)
    elif event_sha256:
        entry.event_sha256 = event_sha256
    else:
        entry.envelope_hash = envelope_hash
    return entry


@dataclass(slots=True)
class ProofEntry:
    """A proof record: an envelope after the requested range whose signature covers the range's end; its
    content is never in the file, only the digest its signed preimage holds (or, failing that, its hash)."""

    device_id: str
    seq: int
    prev_hash: bytes
    key_id: str
    signature: bytes
    event_sha256: bytes | None = None
    envelope_hash: bytes | None = None

    @classmethod
    def of(cls, entry: EventEntry, envelope_hash: bytes) -> ProofEntry:
        """The proof record of an event record as the gateway would write it (its stored chain hash)."""
        digest = hashlib.sha256(entry.event).digest() if entry.event is not None else entry.event_sha256
        return cls(
            entry.device_id,
            entry.seq,
            entry.prev_hash,
            entry.key_id,
            entry.signature,
            digest,
            envelope_hash if digest is None else None,
        )

    def to_json(self) -> dict[str, Any]:
        """The proof record."""
        out = _envelope_json(PROOF, self)
        if self.event_sha256 is not None:
            out["event_sha256"] = self.event_sha256.hex()
        elif self.envelope_hash is not None:
            out["envelope_hash"] = self.envelope_hash.hex()
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ProofEntry:
        """Parse a proof record; FormatError says which field is wrong."""
        try:
            entry = cls(*_envelope_fields(raw))
        except (KeyError, TypeError) as exc:
            raise FormatError(f"proof record: missing or malformed field {exc}") from None
        if "event_sha256" in raw:
            entry.event_sha256 = unhex(raw["event_sha256"], "event_sha256", 32)
        elif "envelope_hash" in raw:
            entry.envelope_hash = unhex(raw["envelope_hash"], "envelope_hash", 32)
        else:
            raise FormatError("proof record: needs event_sha256 or envelope_hash")
        return entry


@dataclass(frozen=True)
class DeviceTotals:
    """What the manifest says of one device."""

    device_id: str
    events: int
    from_seq: int | None
    to_seq: int | None
    first_prev_hash: bytes | None
    last_hash: bytes | None
    withheld: int
    proof_events: int = 0

    def to_json(self) -> dict[str, Any]:
        """As in the manifest."""
        return {
            "device_id": self.device_id,
            "events": self.events,
            "from_seq": self.from_seq,
            "to_seq": self.to_seq,
            "first_prev_hash": None if self.first_prev_hash is None else self.first_prev_hash.hex(),
            "last_hash": None if self.last_hash is None else self.last_hash.hex(),
            "withheld": self.withheld,
            "proof_events": self.proof_events,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> DeviceTotals:
        """Parse one manifest device entry."""
        try:
            first, last = raw["first_prev_hash"], raw["last_hash"]
            return cls(
                _text(raw["device_id"]),
                _int(raw["events"]),
                _optional_int(raw["from_seq"]),
                _optional_int(raw["to_seq"]),
                None if first is None else unhex(first, "first_prev_hash", 32),
                None if last is None else unhex(last, "last_hash", 32),
                _int(raw["withheld"]),
                _int(raw["proof_events"]),
            )
        except (KeyError, TypeError) as exc:
            raise FormatError(f"manifest: missing or malformed device field {exc}") from None


def _envelope_json(record: str, entry: EventEntry | ProofEntry) -> dict[str, Any]:
    """The fields an event or proof record begins with: the envelope as the register sent it."""
    return {
        "record": record,
        "device_id": entry.device_id,
        "seq": entry.seq,
        "prev_hash": entry.prev_hash.hex(),
        "key_id": entry.key_id,
        "signature": b64(entry.signature),
    }


def _envelope_fields(raw: dict[str, Any]) -> tuple[str, int, bytes, str, bytes]:
    """device_id, seq, prev_hash, key_id and signature of an event or proof record."""
    return (
        _text(raw["device_id"]),
        _int(raw["seq"]),
        unhex(raw["prev_hash"], "prev_hash", 32),
        str(raw["key_id"]),
        unb64(raw["signature"], "signature"),
    )


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("an integer")
    return value


def _optional_int(value: Any) -> int | None:
    return None if value is None else _int(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("text")
    return value

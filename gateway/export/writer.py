"""Writing an export: records in, the file's lines out, with the body digest and the signed manifest."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.export.format import (
    FIELDS,
    FORMAT,
    HEADER,
    MANIFEST,
    SIGNATURE,
    SPEC,
    VERSION,
    b64,
    line,
    manifest_preimage,
)
from gateway.export.records import DeviceEntry, DeviceTotals, EventEntry, ProofEntry
from gateway.ingest.fiscal_sign import create_key_file
from gateway.wire import signing


@dataclass
class _Section:
    device_id: str
    events: int = 0
    from_seq: int | None = None
    to_seq: int | None = None
    first_prev_hash: bytes | None = None
    last_hash: bytes | None = None
    withheld: int = 0
    proof_events: int = 0
    unsigned_end: bool = False  # the last record written carries no signature of its own


@dataclass
class ExportWriter:
    """Turns records into the file's lines, in order, keeping the body digest and the manifest's counts.

    Pure: each call returns the bytes to write; the caller streams them wherever it wants.
    """

    gateway_id: str
    created_ms: int
    exported_by: dict[str, str]  # {principal, scope}
    _digest: Any = field(default_factory=hashlib.sha256)
    _lines: int = 0
    _sections: list[_Section] = field(default_factory=list)

    def _emit(self, record: dict[str, Any]) -> bytes:
        data = line(record)
        self._digest.update(data)
        self._lines += 1
        return data

    def header(self, request: dict[str, Any]) -> bytes:
        """The first line."""
        return self._emit(
            {
                "record": HEADER,
                "format": FORMAT,
                "version": VERSION,
                "spec": SPEC,
                "created_ms": self.created_ms,
                "gateway_id": self.gateway_id,
                "exported_by": self.exported_by,
                "request": request,
                "fields": FIELDS,
            }
        )

    def device(self, entry: DeviceEntry) -> bytes:
        """Open a device's section."""
        self._sections.append(_Section(entry.device_id))
        return self._emit(entry.to_json())

    def event(self, entry: EventEntry, envelope_hash: bytes) -> bytes:
        """One event of the open section; envelope_hash: its chain hash as stored (for the manifest)."""
        section = self._open(entry)
        if section.proof_events:
            raise ValueError(f"event seq {entry.seq} after the proof records of {section.device_id}")
        if section.from_seq is None:
            section.from_seq, section.first_prev_hash = entry.seq, entry.prev_hash
        section.to_seq, section.last_hash = entry.seq, envelope_hash
        section.events += 1
        section.withheld += entry.event is None
        section.unsigned_end = not entry.signature
        return self._emit(entry.to_json())

    def needs_proof(self) -> bool:
        """Whether the open section ends on a record without a signature: the events after it, up to and
        including the next signed one, must follow as proof records (docs/export.md)."""
        return bool(self._sections) and self._sections[-1].unsigned_end

    def proof(self, entry: EventEntry, envelope_hash: bytes) -> bytes:
        """The next event after the open section's range, as a proof record: its digest, never its content
        (only while needs_proof()); envelope_hash: its chain hash as stored."""
        section = self._open(entry)
        if not section.unsigned_end:
            raise ValueError(f"proof record seq {entry.seq}: {section.device_id} needs no more proof")
        section.proof_events += 1
        section.unsigned_end = not entry.signature
        return self._emit(ProofEntry.of(entry, envelope_hash).to_json())

    def _open(self, entry: EventEntry) -> _Section:
        section = self._sections[-1]
        if entry.device_id != section.device_id:
            raise ValueError(f"event of {entry.device_id} in the section of {section.device_id}")
        return section

    def events(self) -> int:
        """Event records written so far (proof records not counted)."""
        return sum(s.events for s in self._sections)

    def finish(self, key: ExportSigner) -> bytes:
        """The manifest and signature lines that close the file."""
        sections = [
            DeviceTotals(
                s.device_id,
                s.events,
                s.from_seq,
                s.to_seq,
                s.first_prev_hash,
                s.last_hash,
                s.withheld,
                s.proof_events,
            )
            for s in self._sections
        ]
        manifest = line(
            {
                "record": MANIFEST,
                "format": FORMAT,
                "version": VERSION,
                "created_ms": self.created_ms,
                "gateway_id": self.gateway_id,
                "exported_by": self.exported_by,
                "devices": [s.to_json() for s in sections],
                "events": sum(s.events for s in sections),
                "proof_events": sum(s.proof_events for s in sections),
                "lines": self._lines,
                "body_sha256": self._digest.hexdigest(),
                "export_key": key.public_json(),
            }
        )
        signature = line(
            {
                "record": SIGNATURE,
                "algorithm": "ES256",
                "key_id": key.key_id,
                "signature": b64(key.sign(manifest_preimage(manifest))),
            }
        )
        return manifest + signature


class ExportSigner:
    """The gateway's export key (ES256, P-256): signs manifests."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        self._key = private_key
        self.public_key = signing.public_key_bytes(private_key.public_key())
        self.key_id = signing.key_id_of(private_key.public_key())

    def sign(self, preimage: bytes) -> bytes:
        """ES256, raw r||s."""
        return signing.sign(self._key, preimage)

    def public_json(self) -> dict[str, str]:
        """The export_key object of the manifest."""
        return {"key_id": self.key_id, "public_key": self.public_key.hex(), "algorithm": "ES256"}

    @classmethod
    def load_or_create(cls, path: Path) -> ExportSigner:
        """Load the key file (PEM PKCS#8), or create a fresh P-256 key there (mode 0600) if there is none."""
        create_key_file(
            path,
            lambda: signing.new_private_key().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        )
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise ValueError(f"{path}: an export key file holds a P-256 private key (PEM)")
        return cls(key)

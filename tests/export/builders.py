"""Exports of simulated registers as the gateway would write them (gateway/bench/export_history.py), and
what tamper tests need: records in and out of a file, the verdict's FAIL lines."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from firmware_sim.device import Register
from gateway.bench.export_history import (
    START_MS,
    TIN,
    Life,
    as_stored,
    device_entry,
    new_register,
    working_life,
    write_export,
)
from gateway.export.records import DeviceEntry, Revocation
from gateway.export.report import Report
from gateway.export.verify import verify_stream
from gateway.export.writer import ExportSigner
from gateway.wire import pb, signing

__all__ = ["EXPORT_KEY", "START_MS", "TIN", "Life", "Lived", "export_bytes", "export_of", "live"]

EXPORT_KEY = ExportSigner(ec.derive_private_key(0xE4907, ec.SECP256R1()))
BATCH = 8  # envelopes a simulated register uploads at once (the gateway keeps the newest's signature)


@dataclass
class Lived:
    """A register after its life: its first key and every envelope it signed, in order, as stored."""

    register: Register
    first_key: bytes
    envelopes: list[pb.Envelope] = field(default_factory=list)

    @property
    def device_id(self) -> str:
        return self.register.identity.device_id


def live(device_id: str, seed: int, life: Life | None = None, batch: int = BATCH) -> Lived:
    """A register working `life.shifts` shifts; every envelope it signed, in seq order, as the gateway
    stores them when they arrive `batch` at a time (1: each signature kept)."""
    register = new_register(device_id, seed)
    first_key = signing.public_key_bytes(register.key.public_key())
    signed = (pb.Envelope.FromString(raw) for raw in working_life(register, life or Life()))
    return Lived(register, first_key, list(as_stored(signed, batch)))


def record_of(
    lived: Lived, envelopes: list[pb.Envelope] | None = None, revocations: tuple[Revocation, ...] = ()
) -> DeviceEntry:
    """The device record the gateway would write for these envelopes (default: all of them) of the
    register's history."""
    chosen = lived.envelopes if envelopes is None else envelopes
    first, last = (chosen[0].seq, chosen[-1].seq) if chosen else (None, None)
    return device_entry(lived.device_id, lived.first_key, lived.envelopes, first, last, revocations)


def export_bytes(
    sections: list[tuple[DeviceEntry, list[pb.Envelope]]], *, erased: bool = False, digests: bool = True
) -> bytes:
    """A whole export file of these device sections (erased: buyers' receipts can no longer be opened;
    digests=False: nor were their digests stored, as for rows stored before the gateway kept them)."""
    out = io.BytesIO()
    write_export(out.write, sections, EXPORT_KEY, erased=erased, digests=digests)
    return out.getvalue()


def export_of(*lived: Lived) -> bytes:
    """The export of these registers' whole histories."""
    return export_bytes([(record_of(item), item.envelopes) for item in lived])


def verify(data: bytes, **options: Any) -> Report:
    """Verify an export held in memory."""
    return verify_stream(io.BufferedReader(io.BytesIO(data)), **options)  # type: ignore[arg-type]


def lines_of(data: bytes) -> list[dict[str, Any]]:
    """The records of a file."""
    return [json.loads(raw) for raw in data.splitlines()]


def file_of(records: list[dict[str, Any]]) -> bytes:
    """A file of records (for tampering: the manifest no longer matches unless re-signed)."""
    return b"".join(
        json.dumps(r, ensure_ascii=False, separators=(",", ":")).encode() + b"\n" for r in records
    )


def failures(report: Report) -> list[str]:
    """The FAIL lines, as printed."""
    return [line.text() for line in report.lines if line.status == "FAIL"]

"""Exports made from simulated registers, as the gateway would write them (no gateway, no storage).

A register of firmware_sim lives a random working life (shifts, sales, returns, cash movements, buyers'
contacts, key rotations, lost events declared by gap notices); its journal is what the gateway would have
accepted, so the export of it must verify. Tamper tests edit the lines of such a file.
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from firmware_sim.device import SHIFT_FLOAT, DeviceIdentity, Register
from gateway.export.format import ATTESTED_BY_DEVICE, REGISTERED, ROTATION
from gateway.export.records import DeviceEntry, EventEntry, GapEntry, KeyEntry, Revocation, withheld_event
from gateway.export.report import Report
from gateway.export.verify import verify_stream
from gateway.export.writer import ExportSigner, ExportWriter
from gateway.ingest.fiscal_sign import FiscalSigner
from gateway.wire import pb, signing

EXPORT_KEY = ExportSigner(ec.derive_private_key(0xE4907, ec.SECP256R1()))
FISCAL = FiscalSigner(bytes(range(32)))
START_MS = 1_790_000_000_000
TIN = "080740000019"


@dataclass
class Life:
    """What to do with a register, and how often."""

    shifts: int = 3
    receipts_per_shift: tuple[int, int] = (3, 12)
    rotate_every: int = 0  # receipts between key rotations (0: never)
    gap_every: int = 0  # receipts between declared losses (0: never)
    buyer_share: float = 0.1
    return_share: float = 0.1


@dataclass
class Lived:
    """A register after its life: its first key and every envelope it signed, in order."""

    register: Register
    first_key: bytes
    envelopes: list[pb.Envelope] = field(default_factory=list)
    revocations: tuple[Revocation, ...] = ()

    @property
    def device_id(self) -> str:
        return self.register.identity.device_id


def _clock(start_ms: int) -> Callable[[], int]:
    now = [start_ms]

    def tick() -> int:
        now[0] += 45_000
        return now[0]

    return tick


def live(device_id: str, seed: int, life: Life | None = None) -> Lived:
    """A register working `life.shifts` shifts; every envelope it signed, in seq order."""
    life = life or Life()
    rng = random.Random(seed)
    register = Register(
        DeviceIdentity(device_id, TIN, "ALA-101"), signing.new_private_key(), rng=rng, clock=_clock(START_MS)
    )
    first_key = signing.public_key_bytes(register.key.public_key())
    receipts = 0
    for _ in range(life.shifts):
        register.open_shift()
        register.cash_movement(pb.CashMovement.DEPOSIT, SHIFT_FLOAT)
        for _ in range(rng.randint(*life.receipts_per_shift)):
            if rng.random() < life.return_share and register.can_return():
                register.sell_return()
            else:
                register.sell(buyer=register.random_buyer() if rng.random() < life.buyer_share else None)
            receipts += 1
            if life.rotate_every and receipts % life.rotate_every == 0:
                register.rotate_key()
            if life.gap_every and receipts % life.gap_every == 0:
                register.declare_lost(rng.randint(1, 4))
        drawer = register.shift.cash_in_drawer
        if drawer > 100_00 and rng.random() < 0.5:
            register.cash_movement(pb.CashMovement.WITHDRAWAL, drawer // 2)
        register.close_shift()
    envelopes = [pb.Envelope.FromString(raw) for raw in register.journal.records()]
    return Lived(register, first_key, envelopes)


def _kind(event: pb.Event) -> str:
    return event.WhichOneof("body") or "empty"


def device_entry(lived: Lived, envelopes: list[pb.Envelope] | None = None) -> DeviceEntry:
    """The device record the gateway would write for these envelopes (default: all of them)."""
    chosen = lived.envelopes if envelopes is None else envelopes
    keys = [
        KeyEntry(
            signing.key_id_of(signing.load_public_key_point(lived.first_key)),
            lived.first_key,
            1,
            REGISTERED,
            START_MS,
        )
    ]
    gaps = []
    in_range = {e.seq for e in chosen}
    for envelope in lived.envelopes:
        event = pb.Event.FromString(envelope.event)
        if _kind(event) == "key_rotation":
            rotation = event.key_rotation
            keys.append(
                KeyEntry(
                    rotation.new_key_id,
                    bytes(rotation.new_public_key),
                    envelope.seq + 1,
                    ROTATION,
                    event.time_ms + 1000,
                )
            )
        elif _kind(event) == "gap_notice" and envelope.seq in in_range:
            notice = event.gap_notice
            gaps.append(GapEntry(envelope.seq, notice.first_missing_seq, notice.last_missing_seq))
    return DeviceEntry(
        lived.device_id,
        TIN,
        "ALA-101",
        "revoked" if lived.revocations else "active",
        "tracegate",
        ATTESTED_BY_DEVICE,
        tuple(keys),
        lived.revocations,
        tuple(gaps),
        chosen[0].seq if chosen else None,
        chosen[-1].seq if chosen else None,
    )


def event_entry(envelope: pb.Envelope, *, erased: bool = False) -> EventEntry:
    """An event record as the gateway writes it: receipts naming a buyer are withheld (sealed: opened by
    the gateway to hash and redact them; erased: the gateway can no longer open them)."""
    event = pb.Event.FromString(envelope.event)
    envelope_hash = signing.envelope_hash(
        signing.event_preimage(envelope.device_id, envelope.seq, envelope.prev_hash, envelope.event)
    )
    entry = EventEntry(
        envelope.device_id,
        envelope.seq,
        envelope.prev_hash,
        envelope.key_id,
        envelope.signature,
        envelope.event,
        event.time_ms + 2000,
        FISCAL.sign(envelope.device_id, envelope.seq, envelope_hash, event.time_ms),
    )
    if _kind(event) == "receipt" and event.receipt.HasField("buyer"):
        if erased:
            return withheld_event(entry, "erased", "receipt", None, envelope_hash)
        return withheld_event(entry, "sealed", "receipt", envelope.event, envelope_hash)
    return entry


def export_bytes(sections: list[tuple[DeviceEntry, list[pb.Envelope]]], *, erased: bool = False) -> bytes:
    """A whole export file of these device sections (erased: buyers' receipts can no longer be opened)."""
    writer = ExportWriter("gw-test", START_MS + 10**9)
    out = [
        writer.header(
            {"principal": "tok_test", "scope": "analyst"}, {"devices": [d.device_id for d, _ in sections]}
        )
    ]
    for device, envelopes in sections:
        out.append(writer.device(device))
        for envelope in envelopes:
            entry = event_entry(envelope, erased=erased)
            out.append(
                writer.event(
                    entry,
                    signing.envelope_hash(
                        signing.event_preimage(
                            envelope.device_id, envelope.seq, envelope.prev_hash, envelope.event
                        )
                    ),
                )
            )
    out.append(writer.finish(EXPORT_KEY))
    return b"".join(out)


def export_of(*lived: Lived) -> bytes:
    """The export of these registers' whole histories."""
    return export_bytes([(device_entry(item), item.envelopes) for item in lived])


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

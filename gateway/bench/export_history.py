"""Signed register histories and their audit exports, made without a gateway (export tests and benchmark).

A firmware_sim register lives a working life (shifts, sales, returns, cash movements, buyers' contacts,
key rotations, lost events declared by gap notices); what it signed is what a gateway would have accepted,
stored as the gateway stores it (as_stored: only the signatures it verified), and the export of it is
written as the gateway writes one (buyers' receipts withheld, hashed, redacted; proof records after a
range that ends on an event without a signature).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from firmware_sim.device import SHIFT_FLOAT, DeviceIdentity, Register
from gateway.export.format import ATTESTED_BY_DEVICE, REGISTERED, ROTATION
from gateway.export.records import DeviceEntry, EventEntry, GapEntry, KeyEntry, Revocation, withheld_event
from gateway.export.writer import ExportSigner, ExportWriter
from gateway.ingest.fiscal_sign import FiscalSigner
from gateway.wire import pb, signing
from gateway.wire.rotation import rotation_in

START_MS = 1_790_000_000_000
TIN = "080740000019"
STORE = "ALA-101"
FISCAL = FiscalSigner(bytes(range(32)))


@dataclass
class Life:
    """What a register does, and how often."""

    shifts: int = 3  # 0 with until_events: as many as it takes
    receipts_per_shift: tuple[int, int] = (3, 12)
    rotate_every: int = 0  # receipts between key rotations (0: never)
    gap_every: int = 0  # receipts between declared losses (0: never)
    buyer_share: float = 0.1
    return_share: float = 0.1


def new_register(device_id: str, seed: int, start_ms: int = START_MS) -> Register:
    """A register with a fresh key and a clock that steps 45 s an event from start_ms."""
    now = [start_ms]

    def tick() -> int:
        now[0] += 45_000
        return now[0]

    return Register(
        DeviceIdentity(device_id, TIN, STORE), signing.new_private_key(), rng=random.Random(seed), clock=tick
    )


def working_life(register: Register, life: Life, until_events: int = 0) -> Iterator[bytes]:
    """Every envelope the register signs, as it signs them: life.shifts shifts, or until_events events."""
    rng = register.rng
    receipts = shifts = 0
    while (shifts < life.shifts) if not until_events else (register.seq < until_events):
        shifts += 1
        yield register.open_shift()
        yield register.cash_movement(pb.CashMovement.DEPOSIT, SHIFT_FLOAT)
        for _ in range(rng.randint(*life.receipts_per_shift)):
            if rng.random() < life.return_share and register.can_return():
                yield register.sell_return()
            else:
                yield register.sell(
                    buyer=register.random_buyer() if rng.random() < life.buyer_share else None
                )
            receipts += 1
            if life.rotate_every and receipts % life.rotate_every == 0:
                yield register.rotate_key()
            if life.gap_every and receipts % life.gap_every == 0:
                yield register.declare_lost(rng.randint(1, 4))
        drawer = register.shift.cash_in_drawer
        if drawer > 100_00 and rng.random() < 0.5:
            yield register.cash_movement(pb.CashMovement.WITHDRAWAL, drawer // 2)
        yield register.close_shift()


def as_stored(envelopes: Iterable[pb.Envelope], batch: int) -> Iterator[pb.Envelope]:
    """The envelopes (changed in place) as the gateway stores them when they arrive `batch` at a time: with
    only the signatures it verified, the newest of each batch's chained run and each key rotation (which
    ends the run of its key: gateway/ingest/signatures.py); the other signatures are left empty."""
    previous: pb.Envelope | None = None
    for index, envelope in enumerate(envelopes):
        if previous is not None:
            yield _as_stored(previous, newest=index % batch == 0)
        previous = envelope
    if previous is not None:
        yield _as_stored(previous, newest=True)


def _as_stored(envelope: pb.Envelope, *, newest: bool) -> pb.Envelope:
    if not newest and rotation_in(envelope.event) is None:
        envelope.ClearField("signature")
    return envelope


def _kind(event: pb.Event) -> str:
    return event.WhichOneof("body") or "empty"


def device_entry(
    device_id: str,
    first_key: bytes,
    envelopes: Iterable[pb.Envelope],
    first: int | None,
    last: int | None,
    revocations: tuple[Revocation, ...] = (),
) -> DeviceEntry:
    """The device record the gateway would write: keys from every envelope, gap notices within first..last,
    the newest seq of them all as the head."""
    head = None
    keys = [
        KeyEntry(
            signing.key_id_of(signing.load_public_key_point(first_key)), first_key, 1, REGISTERED, START_MS
        )
    ]
    gaps = []
    for envelope in envelopes:
        head = envelope.seq
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
        elif (
            _kind(event) == "gap_notice"
            and first is not None
            and last is not None
            and first <= envelope.seq <= last
        ):
            notice = event.gap_notice
            gaps.append(GapEntry(envelope.seq, notice.first_missing_seq, notice.last_missing_seq))
    return DeviceEntry(
        device_id,
        TIN,
        STORE,
        "revoked" if revocations else "active",
        "tracegate",
        ATTESTED_BY_DEVICE,
        tuple(keys),
        revocations,
        tuple(gaps),
        first,
        last,
        head,
    )


def event_entry(
    envelope: pb.Envelope, *, erased: bool = False, digests: bool = True
) -> tuple[EventEntry, bytes]:
    """An event record as the gateway writes it, and its chain hash: receipts naming a buyer are withheld
    (sealed: opened by the gateway to hash and redact them; erased: the gateway can no longer open them,
    and writes the digest stored with the row, or without digests, as for rows stored before the gateway
    kept them, the chain hash)."""
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
        clear = None if erased else envelope.event
        digest = hashlib.sha256(envelope.event).digest() if digests else b""
        protection = "erased" if erased else "sealed"
        entry = withheld_event(entry, protection, "receipt", clear, digest, envelope_hash)
    return entry, envelope_hash


def write_export(
    write: Callable[[bytes], object],
    sections: Iterable[tuple[DeviceEntry, Iterable[pb.Envelope]]],
    signer: ExportSigner,
    *,
    erased: bool = False,
    digests: bool = True,
) -> int:
    """Write a whole export of these device sections (each device's envelopes in seq order, of which those
    in its record's from_seq..to_seq are exported, and those after as proof records while the writer needs
    them); the events written. erased, digests: as event_entry."""
    writer = ExportWriter("gw-sim", START_MS + 10**9, {"principal": "tok_sim", "scope": "analyst"})
    write(writer.header({"simulated": True}))
    for device, envelopes in sections:
        write(writer.device(device))
        first, last = device.from_seq or 0, device.to_seq or 0
        for envelope in envelopes if device.to_seq is not None else ():
            if envelope.seq < first:
                continue
            if envelope.seq <= last:
                write(writer.event(*event_entry(envelope, erased=erased, digests=digests)))
            elif writer.needs_proof():
                write(writer.proof(*event_entry(envelope, erased=erased, digests=digests)))
            else:
                break
    write(writer.finish(signer))
    return writer.events()

"""Ingest test set-up: a signing register, consistent receipts, an in-memory journal and a ready pipeline."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.devices import Device, DeviceRegistry
from gateway.errors import GatewayError
from gateway.ingest.chain import ChainState
from gateway.ingest.fiscal_sign import FiscalSigner
from gateway.ingest.pipeline import IngestPipeline
from gateway.security.pii_keys import PiiKeyRing
from gateway.settings import Settings
from gateway.wire import pb, signing
from tests.e2e.chain_builder import ChainedRegister

NOW_MS = 1_790_000_000_000  # 2026-09-21, the gateway's clock in these tests
FISCAL_KEY = bytes(range(32))
PII_KEYS = PiiKeyRing.generate()  # the operator's key ring buyer data is sealed under


def receipt(
    time_ms: int = NOW_MS - 60_000, prices: Sequence[int] = (1500, 2250), quantity: int = 1000
) -> pb.Event:
    """A cash sale whose arithmetic adds up: lines, VAT 12 % included, total, payment and change."""
    lines = []
    for number, price in enumerate(prices, start=1):
        line_sum = (2 * price * quantity + 1000) // 2000
        vat = (2 * line_sum * 1200 + 11200) // (2 * 11200)
        lines.append(
            pb.ReceiptLine(
                name=f"Item {number}",
                gtin="04600000000010",
                quantity=quantity,
                price=price,
                sum=line_sum,
                taxes=[pb.Tax(tax_type=100, rate_bp=1200, sum=vat)],
            )
        )
    total = sum(line.sum for line in lines)
    return pb.Event(
        time_ms=time_ms,
        receipt=pb.Receipt(
            operation=pb.SELL,
            shift_number=1,
            document_number=1,
            shift_document_number=1,
            cashier="Aigerim",
            lines=lines,
            payments=[pb.Payment(type=pb.CASH, sum=total + 500)],
            change=500,
            total=total,
        ),
    )


def rotation_to(new_key: ec.EllipticCurvePrivateKey) -> pb.Event:
    """A KeyRotation event handing the chain over to new_key."""
    point = new_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    rotation = pb.KeyRotation(new_public_key=point, new_key_id=signing.key_id_of(new_key.public_key()))
    return pb.Event(time_ms=NOW_MS - 30_000, key_rotation=rotation)


@dataclass
class Register(ChainedRegister):
    """ChainedRegister with its registry entry, and a consistent receipt when no event is given."""

    def device(self, status: str = "active") -> Device:
        """The registry entry for this register."""
        return Device(
            device_id=self.device_id,
            seller_tin="990340000123",
            store_id="almaty-01",
            public_key_pem=self.public_key_pem,
            key_id=self.key_id,
            status=status,
        )

    def envelope(
        self,
        event: pb.Event | bytes | None = None,
        *,
        seq: int | None = None,
        prev_hash: bytes | None = None,
        advance: bool = True,
        key: ec.EllipticCurvePrivateKey | None = None,
    ) -> pb.Envelope:
        """ChainedRegister.envelope, of receipt() by default."""
        event = receipt() if event is None else event
        return super().envelope(event, seq=seq, prev_hash=prev_hash, advance=advance, key=key)

    def run(self, count: int) -> list[pb.Envelope]:
        """The next count envelopes, each a small sale."""
        return [self.envelope(receipt(prices=(100 * (self.seq + 1),))) for _ in range(count)]


class MemoryJournal:
    """The Journal interface in memory: append is 'durable' when it returns; can be told to refuse."""

    def __init__(self) -> None:
        self.records: list[bytes] = []
        self.appends = 0
        self.refuse: GatewayError | None = None
        self.delay_s = 0.0

    async def append(self, records: Sequence[bytes]) -> None:
        """Keep the records, after a pause that stands for the fsync (other requests run meanwhile)."""
        self.appends += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.refuse is not None:
            raise self.refuse
        self.records.extend(records)

    def replay(self) -> Iterator[bytes]:
        """Every record, in order."""
        return iter(list(self.records))

    def decoded(self) -> list[pb.JournalRecord]:
        """The records as JournalRecord messages."""
        return [pb.JournalRecord.FromString(raw) for raw in self.records]

    async def close(self) -> None:
        """Nothing to release."""


@dataclass(frozen=True)
class StoredRow:
    """An accepted envelope as storage returns it."""

    envelope_hash: bytes
    fiscal_sign: str
    signature: bytes
    key_id: str


class MemoryStorage:
    """What the shipper would have put in ClickHouse: accepted journal records by (device, seq)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, int], StoredRow] = {}
        self.lookups: list[tuple[str, list[int]]] = []

    def ship(self, journal: MemoryJournal) -> None:
        """Take every accepted record of the journal."""
        for record in journal.decoded():
            if record.accepted:
                key = (record.envelope.device_id, record.envelope.seq)
                envelope = record.envelope
                self.rows[key] = StoredRow(
                    record.envelope_hash, record.fiscal_sign, envelope.signature, envelope.key_id
                )

    async def lookup(self, device_id: str, seqs: list[int]) -> Mapping[int, StoredRow]:
        """The stored envelopes of these seqs."""
        self.lookups.append((device_id, list(seqs)))
        return {seq: self.rows[(device_id, seq)] for seq in seqs if (device_id, seq) in self.rows}


@dataclass
class Gateway:
    """A pipeline with its parts exposed to the test."""

    pipeline: IngestPipeline
    registry: DeviceRegistry
    chains: ChainState
    journal: MemoryJournal
    storage: MemoryStorage
    fiscal: FiscalSigner

    async def send(self, *envelopes: pb.Envelope) -> list[pb.EventAck]:
        """Post one batch through decode and ingest; the acks in order."""
        body = pb.IngestBatch(envelopes=envelopes).SerializeToString()
        ack = await self.pipeline.ingest(self.pipeline.decode_batch(body))
        return list(ack.acks)


def make_gateway(
    registers: Sequence[Register], *, settings: Settings | None = None, window: int = 256
) -> Gateway:
    """A pipeline over an in-memory journal and storage, with these registers registered."""
    registry = DeviceRegistry([register.device() for register in registers])
    chains = ChainState(window=window)
    journal = MemoryJournal()
    storage = MemoryStorage()
    fiscal = FiscalSigner(FISCAL_KEY)
    pipeline = IngestPipeline(
        settings or Settings(gateway_id="test-gw"),
        registry,
        chains,
        fiscal,
        journal,
        storage.lookup,
        clock=lambda: NOW_MS,
        pii=PII_KEYS,
    )
    return Gateway(pipeline, registry, chains, journal, storage, fiscal)


@pytest.fixture
def register() -> Register:
    """A registered register."""
    return Register("KKM-0001")


@pytest.fixture
def gateway(register: Register) -> Gateway:
    """A gateway that knows the register fixture."""
    return make_gateway([register])


@pytest.fixture
def verify_calls(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Counts real ES256 verifies (the preimages verified), without changing what they answer."""
    calls: list[bytes] = []
    real = signing.verify_signature

    def counting(key: ec.EllipticCurvePublicKey, preimage: bytes, signature: bytes) -> bool:
        calls.append(preimage)
        return real(key, preimage, signature)

    monkeypatch.setattr(signing, "verify_signature", counting)
    return calls

"""Real journal records for storage tests: a register signs and chains events like firmware does."""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.settings import Settings, load_settings
from gateway.storage.client import Storage
from gateway.storage.migrations import apply_migrations
from gateway.wire import pb, signing

T0_MS = 1_790_000_000_000  # 2026-09-21T14:13:20Z
_session_chdb_dir: Path | None = None


def session_chdb_url() -> str:
    """One chDB directory for the whole test process (chDB can open only one per process)."""
    global _session_chdb_dir
    if _session_chdb_dir is None:
        _session_chdb_dir = Path(tempfile.mkdtemp(prefix="tracegate-chdb-")).resolve()
    return f"chdb://{_session_chdb_dir}"


def storage_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings on the session chDB with a database of its own."""
    database = f"t_{uuid.uuid4().hex[:12]}"
    values = {"data_dir": data_dir, "storage_url": session_chdb_url(), "database": database}
    return load_settings({**values, **overrides}, environ={})


@contextlib.asynccontextmanager
async def migrated_storage(settings: Settings) -> AsyncIterator[Storage]:
    """Storage opened on settings with every migration applied; closed afterwards."""
    opened = Storage.open(settings)
    try:
        await opened.run(lambda c: apply_migrations(c, opened.database))
        yield opened
    finally:
        opened.close()


def sell_receipt(shift: int, document: int, prices: list[int], *, cash: bool = True) -> pb.Receipt:
    """A sale of one unit per price, VAT 12 % included, paid in cash (with change) or by card."""
    lines = [
        pb.ReceiptLine(
            name=f"Item {i}", gtin=f"0460000000{i:04d}", quantity=1000, price=price, sum=price,
            taxes=[pb.Tax(tax_type=100, rate_bp=1200, sum=price * 12 // 112)],
            marking_codes=[f"0104600000{i:04d}21SERIAL{i}\x1d93abcd"] if i % 2 else [],
        )
        for i, price in enumerate(prices, start=1)
    ]
    total = sum(prices)
    payment = pb.Payment(type=pb.CASH if cash else pb.CARD, sum=total + (100 if cash else 0))
    return pb.Receipt(
        operation=pb.SELL, shift_number=shift, document_number=document, shift_document_number=document,
        cashier="Aigerim", lines=lines, payments=[payment], total=total, change=100 if cash else 0,
        taxes=[pb.Tax(tax_type=100, rate_bp=1200, sum=sum(line.taxes[0].sum for line in lines))],
    )


@dataclass
class Register:
    """A signing register of one seller, producing journal records as the gateway writes them."""

    device_id: str = "KKM-0001"
    seller_tin: str = "123456789012"
    store_id: str = "store-7"
    key: ec.EllipticCurvePrivateKey = field(default_factory=signing.new_private_key)
    seq: int = 0
    prev_hash: bytes = b""
    clock_ms: int = T0_MS

    def __post_init__(self) -> None:
        self.prev_hash = signing.genesis_hash(self.device_id)

    def envelope(self, event: pb.Event) -> tuple[pb.Envelope, bytes]:
        """The next signed envelope in the chain, and its hash."""
        self.seq += 1
        event_bytes = event.SerializeToString()
        preimage = signing.event_preimage(self.device_id, self.seq, self.prev_hash, event_bytes)
        env = pb.Envelope(
            device_id=self.device_id, seq=self.seq, prev_hash=self.prev_hash, event=event_bytes,
            signature=signing.sign(self.key, preimage), key_id=signing.key_id_of(self.key.public_key()),
        )
        self.prev_hash = signing.envelope_hash(preimage)
        return env, self.prev_hash

    def accepted(self, event: pb.Event, findings: list[pb.Finding] | None = None) -> pb.JournalRecord:
        """An accepted record of the next event."""
        env, env_hash = self.envelope(event)
        return pb.JournalRecord(
            envelope=env, received_ms=event.time_ms + 1500, accepted=True, envelope_hash=env_hash,
            fiscal_sign=f"FS-{self.device_id}-{env.seq}", seller_tin=self.seller_tin, store_id=self.store_id,
            findings=findings or [], gateway_id="gw-test",
        )

    def rejected(self, error_code: str, detail: str) -> pb.JournalRecord:
        """A rejected record (say a bad signature) of an envelope that does not extend the chain."""
        event = pb.Event(time_ms=self.tick(), shift_open=pb.ShiftOpen(shift_number=99))
        env = pb.Envelope(device_id=self.device_id, seq=self.seq + 5, prev_hash=b"\x01" * 32,
                          event=event.SerializeToString(), signature=b"\x00" * 64, key_id="bogus")
        return pb.JournalRecord(
            envelope=env, received_ms=event.time_ms + 10, accepted=False, seller_tin=self.seller_tin,
            store_id=self.store_id, error_code=error_code, detail=detail, gateway_id="gw-test",
        )

    def tick(self) -> int:
        """Advance the register clock by a minute."""
        self.clock_ms += 60_000
        return self.clock_ms

    def shift(self, shift: int, receipts: int, first_document: int) -> list[pb.JournalRecord]:
        """Open a shift, sell receipts (alternating cash and card), close it with its Z-report."""
        records = [self.accepted(pb.Event(time_ms=self.tick(), shift_open=pb.ShiftOpen(shift_number=shift)))]
        sold: list[pb.Receipt] = []
        for n in range(receipts):
            receipt = sell_receipt(shift, first_document + n, [1500, 2250, 990][: 1 + n % 3], cash=n % 2 == 0)
            sold.append(receipt)
            records.append(self.accepted(pb.Event(time_ms=self.tick(), receipt=receipt)))
        cash = sum(r.total for r in sold if r.payments[0].type == pb.CASH)
        card = sum(r.total for r in sold if r.payments[0].type == pb.CARD)
        z = pb.ShiftClose(
            shift_number=shift, cashier="Aigerim", receipt_count=len(sold),
            operations=[pb.OperationTotals(
                operation=pb.SELL, count=len(sold), sum=cash + card,
                payments=[pb.Payment(type=pb.CASH, sum=cash), pb.Payment(type=pb.CARD, sum=card)],
            )],
            cash_deposits=5000, cash_withdrawals=2000, cash_in_drawer=5000 - 2000 + cash,
            first_document_number=first_document, last_document_number=first_document + len(sold) - 1,
        )
        records.append(self.accepted(pb.Event(time_ms=self.tick(), shift_close=z)))
        return records

"""One simulated cash register: its key, signed hash-chained journal, shifts, receipts and counters."""

from __future__ import annotations

import base64
import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from firmware_sim.catalog import Goods, default_catalog, marking_code
from firmware_sim.counters import OperationCounters, ShiftCounters
from firmware_sim.journal import EventJournal, UploadQueue
from firmware_sim.receipts import (
    BasketItem,
    PaymentPlan,
    basket_total,
    fill_receipt,
    random_basket,
    random_payment,
    receipt_taxes,
)
from gateway.wire import pb, signing

CASHIERS = ("Айгерим Садыкова", "Ерлан Жумабаев", "Дана Ахметова", "Нурлан Искаков", "Ольга Ким")
SHIFT_FLOAT = 20_000_00  # tiyn put into the drawer when a shift opens
_RECENT_SALES = 30  # sales a register keeps at hand for returns


@dataclass(frozen=True)
class DeviceIdentity:
    """Who a register is: its id, the seller (TIN/BIN) and store it belongs to, where it stands."""

    device_id: str
    seller_tin: str
    store_id: str
    latitude_e6: int = 43_238_949
    longitude_e6: int = 76_889_709


def deterministic_signer(key: ec.EllipticCurvePrivateKey) -> Callable[[bytes], bytes]:
    """ES256 with RFC 6979 nonces (same bytes in, same signature out), for reproducible fixtures."""
    algorithm = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)

    def sign(preimage: bytes) -> bytes:
        r, s = decode_dss_signature(key.sign(preimage, algorithm))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    return sign


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class Register:
    """A register as firmware would be; every fiscal action becomes a signed envelope in its journal."""

    def __init__(
        self,
        identity: DeviceIdentity,
        key: ec.EllipticCurvePrivateKey,
        *,
        rng: random.Random,
        clock: Callable[[], int] = _wall_clock_ms,
        catalog: list[Goods] | None = None,
        state_dir: Path | None = None,
        signer: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self.identity = identity
        self.key = key
        self.key_id = signing.key_id_of(key.public_key())
        self.rng = rng
        self.catalog = catalog or default_catalog()
        self.queue = UploadQueue()
        self._clock = clock
        self._sign = signer or (lambda preimage: signing.sign(key, preimage))
        self._dir = state_dir / identity.device_id if state_dir else None
        self.journal = EventJournal(self._dir / "journal.bin" if self._dir else None)
        self.seq = 0
        self.prev_hash = signing.genesis_hash(identity.device_id)
        self.last_time_ms = 0
        self.shift_number = 0
        self.shift_open = False
        self.cashier = ""
        self.document_number = 0
        self.shift = ShiftCounters()
        self.grand_totals = OperationCounters()
        self.settled_through = 0  # every seq up to here got a final answer from the gateway
        self.recent_sales: list[dict[str, Any]] = []
        # Where scanned marking codes come from: fresh random ones, or a registry (code_registry.CodeBook).
        self.code_source: Callable[[Goods, random.Random], str] = marking_code

    # ── persistence ──

    @classmethod
    def open(
        cls, identity: DeviceIdentity, *, rng: random.Random, state_dir: Path | None = None,
        clock: Callable[[], int] = _wall_clock_ms,
    ) -> Register:
        """A register with its persisted key and state if state_dir has them, else a fresh one."""
        key_file = state_dir / identity.device_id / "key.pem" if state_dir else None
        if key_file is not None and key_file.exists():
            loaded = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
            if not isinstance(loaded, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{key_file} is not an EC key")
            register = cls(identity, loaded, rng=rng, clock=clock, state_dir=state_dir)
            register._load_state()
            return register
        register = cls(identity, signing.new_private_key(), rng=rng, clock=clock, state_dir=state_dir)
        if key_file is not None:
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_bytes(private_key_pem(register.key).encode())
            key_file.chmod(0o600)
        return register

    def _load_state(self) -> None:
        assert self._dir is not None
        state_file = self._dir / "state.json"
        if state_file.exists():
            state = json.loads(state_file.read_text())
            self.last_time_ms = state["last_time_ms"]
            self.shift_number = state["shift_number"]
            self.shift_open = state["shift_open"]
            self.cashier = state["cashier"]
            self.document_number = state["document_number"]
            self.shift = ShiftCounters.from_json(state["shift"])
            self.grand_totals = OperationCounters.from_json(state["grand_totals"])
            self.settled_through = state["settled_through"]
            self.recent_sales = state["recent_sales"]
        # The journal, not the state file, is the truth about the chain: it is written first.
        envelope = None
        for raw in self.journal.records():
            envelope = pb.Envelope.FromString(raw)
            preimage = signing.event_preimage(
                envelope.device_id, envelope.seq, envelope.prev_hash, envelope.event
            )
            self.seq = envelope.seq
            self.prev_hash = signing.envelope_hash(preimage)
            if envelope.seq > self.settled_through:
                self.queue.push(envelope.seq, raw)
        if envelope is not None:  # a gap notice last: the chain goes on past the seqs it declared lost
            event = pb.Event.FromString(envelope.event)
            if event.WhichOneof("body") == "gap_notice":
                self.seq = max(self.seq, event.gap_notice.last_missing_seq)

    def _save_state(self) -> None:
        if self._dir is None:
            return
        state = {
            "last_time_ms": self.last_time_ms,
            "shift_number": self.shift_number,
            "shift_open": self.shift_open,
            "cashier": self.cashier,
            "document_number": self.document_number,
            "shift": self.shift.to_json(),
            "grand_totals": self.grand_totals.to_json(),
            "settled_through": self.settled_through,
            "recent_sales": self.recent_sales,
        }
        tmp = self._dir / "state.json.tmp"
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self._dir / "state.json")

    # ── the chain ──

    def record(self, body: pb.Event) -> bytes:
        """Sign and chain one event (its time set from the register clock); journal and queue it."""
        self.last_time_ms = max(self._clock(), self.last_time_ms)
        body.time_ms = self.last_time_ms
        event_bytes = body.SerializeToString(deterministic=True)
        seq = self.seq + 1
        preimage = signing.event_preimage(self.identity.device_id, seq, self.prev_hash, event_bytes)
        envelope = pb.Envelope(
            device_id=self.identity.device_id,
            seq=seq,
            prev_hash=self.prev_hash,
            event=event_bytes,
            signature=self._sign(preimage),
            key_id=self.key_id,
        )
        raw = envelope.SerializeToString(deterministic=True)
        self.journal.append(raw)
        self.seq = seq
        self.prev_hash = signing.envelope_hash(preimage)
        self.queue.push(seq, raw)
        self._save_state()
        return raw

    def rotate_key(self, new_key: ec.EllipticCurvePrivateKey | None = None) -> bytes:
        """Hand the chain over to a new key: a KeyRotation event signed by the current key, after which the
        new key signs (and, with a state dir, replaces key.pem). Events queued before it keep their old
        signatures: resent after a lost ack, they are the same bytes, which the gateway answers DUPLICATE."""
        new_key = new_key or signing.new_private_key()
        public = new_key.public_key()
        point = public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        raw = self.record(
            pb.Event(key_rotation=pb.KeyRotation(new_public_key=point, new_key_id=signing.key_id_of(public)))
        )
        self.key, self.key_id = new_key, signing.key_id_of(public)
        self._sign = lambda preimage: signing.sign(new_key, preimage)
        if self._dir is not None:  # a real register keeps both in its secure element, switched at once
            tmp = self._dir / "key.pem.tmp"
            tmp.write_bytes(private_key_pem(new_key).encode())
            tmp.chmod(0o600)
            os.replace(tmp, self._dir / "key.pem")
        return raw

    def declare_lost(self, count: int, reason: str = "journal storage failure") -> bytes:
        """Storage lost `count` events the register had numbered: a signed GapNotice (the next event)
        declares the seqs after it lost, and the chain goes on past them, linked to the notice."""
        if count < 1:
            raise ValueError("a gap notice declares at least one seq lost")
        first = self.seq + 2  # the notice itself takes seq + 1
        raw = self.record(pb.Event(gap_notice=pb.GapNotice(
            first_missing_seq=first, last_missing_seq=first + count - 1, reason=reason,
        )))
        self.seq += count
        self._save_state()
        return raw

    def settle(self, seq: int, status: int, fiscal_sign: str = "") -> None:
        """The gateway answered seq for good (accepted, duplicate or rejected for good): dequeue it."""
        self.queue.settle(seq)
        self.settled_through = seq
        if fiscal_sign:
            for sale in self.recent_sales:
                if sale["seq"] == seq:
                    sale["fiscal_sign"] = fiscal_sign
        self._save_state()

    # ── shifts ──

    def open_shift(self, cashier: str | None = None) -> bytes:
        """Open the next shift and put the float into the drawer."""
        if self.shift_open:
            raise RuntimeError("a shift is open already")
        self.shift_number += 1
        self.shift_open = True
        self.cashier = cashier or self.rng.choice(CASHIERS)
        self.shift = ShiftCounters()
        return self.record(
            pb.Event(shift_open=pb.ShiftOpen(shift_number=self.shift_number, cashier=self.cashier))
        )

    def close_shift(self) -> bytes:
        """Close the shift with a Z-report built from the register's own counters."""
        self._require_shift()
        counters = self.shift
        report = pb.ShiftClose(
            shift_number=self.shift_number,
            cashier=self.cashier,
            receipt_count=counters.receipt_count,
            operations=counters.operations.to_proto(),
            cash_deposits=counters.cash_deposits,
            cash_withdrawals=counters.cash_withdrawals,
            cash_in_drawer=counters.cash_in_drawer,
            grand_totals=self.grand_totals.to_proto(),
            first_document_number=counters.first_document_number,
            last_document_number=counters.last_document_number,
        )
        self.shift_open = False
        return self.record(pb.Event(shift_close=report))

    def cash_movement(self, kind: int, amount: int) -> bytes:
        """Put cash into the drawer or take it out (never more than is in it)."""
        self._require_shift()
        if amount <= 0:
            raise ValueError("a cash movement moves a positive amount")
        if kind == pb.CashMovement.WITHDRAWAL and amount > self.shift.cash_in_drawer:
            raise ValueError("cannot withdraw more cash than the drawer holds")
        movement = pb.CashMovement(kind=kind, sum=amount, shift_number=self.shift_number)  # type: ignore[arg-type]
        self.shift.add_cash_movement(movement)
        return self.record(pb.Event(cash_movement=movement))

    def _require_shift(self) -> None:
        if not self.shift_open:
            raise RuntimeError("no shift is open")

    # ── receipts ──

    def new_receipt(self, operation: int) -> pb.Receipt:
        """A blank receipt with the next document number, in the open shift."""
        self._require_shift()
        self.document_number += 1
        return pb.Receipt(
            operation=operation,  # type: ignore[arg-type]
            shift_number=self.shift_number,
            document_number=self.document_number,
            shift_document_number=self.shift.receipt_count + 1,
            cashier=self.cashier,
            location=pb.Geolocation(
                latitude_e6=self.identity.latitude_e6, longitude_e6=self.identity.longitude_e6
            ),
        )

    def book(self, receipt: pb.Receipt) -> bytes:
        """Count a finished receipt in the shift and grand totals, then sign and chain it."""
        self.shift.add_receipt(receipt)
        self.grand_totals.add(receipt)
        return self.record(pb.Event(receipt=receipt))

    def sell(
        self, items: list[BasketItem] | None = None, plan: PaymentPlan | None = None,
        buyer: pb.BuyerContacts | None = None, code_check: tuple[str, int] | None = None,
    ) -> bytes:
        """Ring up a sale (a random basket and payment unless given); code_check: (id, time) of a check."""
        items = items if items is not None else random_basket(self.catalog, self.rng, self.code_source)
        plan = plan or random_payment(basket_total(items), self.rng)
        receipt = self.new_receipt(pb.SELL)
        fill_receipt(receipt, items, plan)
        if code_check is not None:
            for line in receipt.lines:
                if line.marking_codes:
                    line.code_check_id, line.code_check_time_ms = code_check
        if buyer is not None:
            receipt.buyer.CopyFrom(buyer)
        raw = self.book(receipt)
        self.recent_sales.append({
            "seq": self.seq, "shift_number": receipt.shift_number,
            "document_number": receipt.document_number, "time_ms": self.last_time_ms,
            "total": receipt.total, "fiscal_sign": "",
            "receipt": base64.b64encode(receipt.SerializeToString(deterministic=True)).decode(),
        })
        del self.recent_sales[:-_RECENT_SALES]
        return raw

    def can_return(self) -> bool:
        """True if there is an earlier sale of this register that was not returned yet."""
        return bool(self.recent_sales)

    def sell_return(self, sale_index: int | None = None, line_count: int | None = None) -> bytes:
        """Return some lines of an earlier sale of this register, refunded the way it was paid."""
        if not self.recent_sales:
            raise RuntimeError("no earlier sale to return")
        index = sale_index if sale_index is not None else self.rng.randrange(len(self.recent_sales))
        sale = self.recent_sales.pop(index)  # one return per sale keeps returns within what was sold
        parent = pb.Receipt.FromString(base64.b64decode(sale["receipt"]))
        count = line_count or self.rng.randint(1, len(parent.lines))
        lines = list(parent.lines)[:count]
        receipt = self.new_receipt(pb.SELL_RETURN)
        receipt.lines.extend(lines)
        receipt.total = sum(line.sum for line in lines)
        receipt.taxes.extend(receipt_taxes(lines))
        paid_by = {p.type for p in parent.payments}
        refund_type = pb.CARD if pb.CARD in paid_by else pb.MOBILE if pb.MOBILE in paid_by else pb.CASH
        receipt.payments.add(type=refund_type, sum=receipt.total)
        receipt.parent.CopyFrom(pb.ParentDocument(
            device_id=self.identity.device_id, shift_number=sale["shift_number"],
            document_number=sale["document_number"], time_ms=sale["time_ms"], total=sale["total"],
            fiscal_sign=sale["fiscal_sign"],
        ))
        return self.book(receipt)

    def random_buyer(self) -> pb.BuyerContacts:
        """Contacts of a buyer who asked for an electronic receipt, with consent for 30 days."""
        number = self.rng.randrange(10**6)
        return pb.BuyerContacts(
            email=f"buyer{number:06d}@example.kz", consent_purpose="electronic receipt delivery",
            consent_expires_ms=self.last_time_ms + 30 * 86_400_000,
        )

    def public_key_pem(self) -> str:
        """The PEM the gateway registers for this register."""
        return signing.public_key_pem(self.key.public_key())

    def registration(self) -> dict[str, str]:
        """The admin API body that registers this register."""
        return {**{k: v for k, v in asdict(self.identity).items() if isinstance(v, str)},
                "public_key_pem": self.public_key_pem()}


def private_key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    """PKCS#8 PEM of a private key, unencrypted (simulator and test fixtures only)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


"""Pure functions turning journal records into columnar row batches, one per table."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError

from gateway.security.ai_label import ai_source_of
from gateway.security.buyer_data import protect_event, strip_rejected
from gateway.security.pii_keys import PiiKeyRing
from gateway.storage.code_rows import CODE_EVENTS_COLUMNS, add_code_events, is_check_record
from gateway.wire import pb

VAT_TAX_TYPE = 100
DAY_MS = 86_400_000
# DateTime64 cannot hold any int64; a device clock far off must not block shipping, so times are clamped
# (the signed event bytes keep the device's exact value).
MAX_TIME_MS = 4_102_444_800_000  # 2100-01-01

COLUMNS: dict[str, tuple[str, ...]] = {
    "events": (
        "seller_tin", "store_id", "device_id", "seq", "kind", "event_time", "received_at", "envelope_hash",
        "prev_hash", "signature", "key_id", "event", "fiscal_sign", "gateway_id", "protection",
    ),
    "receipts": (
        "seller_tin", "store_id", "device_id", "seq", "shift_number", "document_number",
        "shift_document_number", "operation", "event_time", "received_at", "total", "change", "cash", "card",
        "credit", "tare", "mobile", "vat", "line_count", "marked_code_count", "parent_device_id",
        "parent_shift_number", "parent_document_number", "parent_fiscal_sign", "cashier", "fiscal_sign",
        "findings",
    ),
    "receipt_lines": (
        "seller_tin", "day", "gtin", "store_id", "device_id", "seq", "shift_number", "document_number",
        "line_no", "operation", "event_time", "name", "quantity", "price", "discount", "markup", "sum", "vat",
        "vat_rate_bp", "marking_codes", "ai_label", "ai_source",
    ),
    "shifts": (
        "seller_tin", "store_id", "device_id", "shift_number", "seq", "closed_at", "received_at", "cashier",
        "receipt_count", "sell_count", "sell_sum", "sell_return_count", "sell_return_sum", "buy_count",
        "buy_sum", "buy_return_count", "buy_return_sum", "cash", "card", "credit", "tare", "mobile",
        "payments", "cash_deposits", "cash_withdrawals", "cash_in_drawer", "first_document_number",
        "last_document_number",
    ),
    "rejections": (
        "device_id", "seq", "received_at", "error_code", "detail", "envelope_hash", "seller_tin", "store_id",
        "key_id", "gateway_id", "envelope",
    ),
    # Buyer contacts sealed per receipt (gateway/security/buyer_data.py); migration 0004.
    "receipt_buyers": (
        "seller_tin", "device_id", "seq", "event_time", "consent_purpose", "consent_expires_at", "key_id",
        "wrapped_key", "email", "phone", "iin", "email_hash", "phone_hash", "iin_hash",
    ),
    "code_events": CODE_EVENTS_COLUMNS,  # gateway/storage/code_rows.py; migration 0002
    "anomalies": (
        "kind", "detected_at", "event_time", "seller_tin", "store_id", "device_id", "seq", "accepted", "line",
        "cis", "detail",
    ),
}
TABLES = tuple(COLUMNS)
# _receipt_rows appends these columns one by one: a column added to receipt_lines must be added there too.
_LINE_COLUMNS_APPENDED = 22
assert len(COLUMNS["receipt_lines"]) == _LINE_COLUMNS_APPENDED, "update _receipt_rows with the new column"
_PAYMENT_COLUMNS = {
    pb.CASH: "cash", pb.CARD: "card", pb.CREDIT: "credit", pb.TARE: "tare", pb.MOBILE: "mobile",
}


@dataclass
class TableRows:
    """Rows of one table, column by column (what a columnar insert wants)."""

    table: str
    columns: dict[str, list[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in COLUMNS[self.table]:
            self.columns.setdefault(name, [])
        # (name, column list) in insert order, looked up once: add() runs for every row of every table.
        self._pairs = [(name, self.columns[name]) for name in COLUMNS[self.table]]

    def add(self, **row: Any) -> None:
        """Append one row; every column must be given."""
        for name, column in self._pairs:
            column.append(row[name])

    def __len__(self) -> int:
        return len(self.columns[COLUMNS[self.table][0]])

    def column_names(self) -> list[str]:
        """Column names in insert order."""
        return list(COLUMNS[self.table])

    def data(self) -> list[list[Any]]:
        """Column lists in insert order."""
        return [self.columns[name] for name in COLUMNS[self.table]]


def clamp_time(ms: int) -> int:
    """A time in ms that DateTime64(3) and Date can hold."""
    return min(max(ms, 0), MAX_TIME_MS)


def decode_event(record: pb.JournalRecord) -> pb.Event | None:
    """The envelope's Event, or None if its bytes do not parse."""
    try:
        return pb.Event.FromString(record.envelope.event)
    except DecodeError:
        return None


def enum_name(enum: Any, value: int) -> str:
    """The enum value's name, or UNKNOWN_<n>: an authentic event with a newer enum value must still ship."""
    known = enum.DESCRIPTOR.values_by_number.get(value)
    return known.name if known is not None else f"UNKNOWN_{value}"


def _vat(taxes: Iterable[pb.Tax]) -> int:
    return sum(t.sum for t in taxes if t.tax_type == VAT_TAX_TYPE)


def _payments(payments: Iterable[pb.Payment]) -> dict[str, int]:
    out = dict.fromkeys(_PAYMENT_COLUMNS.values(), 0)
    for p in payments:
        column = _PAYMENT_COLUMNS.get(p.type)
        if column:
            out[column] += p.sum
    return out


def _receipt_rows(batch: dict[str, TableRows], record: pb.JournalRecord, event: pb.Event) -> None:
    receipt = event.receipt
    env = record.envelope
    operation = enum_name(pb.Operation, receipt.operation)
    event_time = clamp_time(event.time_ms)
    # upb repeated fields have no __iter__ (a plain loop indexes until IndexError): sliced to lists once.
    lines = receipt.lines[:]
    vat = _vat(receipt.taxes[:]) if receipt.taxes else sum(_vat(line.taxes[:]) for line in lines)
    batch["receipts"].add(
        seller_tin=record.seller_tin, store_id=record.store_id, device_id=env.device_id, seq=env.seq,
        shift_number=receipt.shift_number, document_number=receipt.document_number,
        shift_document_number=receipt.shift_document_number, operation=operation, event_time=event_time,
        received_at=clamp_time(record.received_ms), total=receipt.total, change=receipt.change,
        **_payments(receipt.payments[:]), vat=vat, line_count=len(lines),
        marked_code_count=sum(len(line.marking_codes) for line in lines),
        parent_device_id=receipt.parent.device_id, parent_shift_number=receipt.parent.shift_number,
        parent_document_number=receipt.parent.document_number, parent_fiscal_sign=receipt.parent.fiscal_sign,
        cashier=receipt.cashier, fiscal_sign=record.fiscal_sign,
        findings=[f.kind for f in record.findings[:]],
    )
    # Read once per receipt, not once per line: protobuf attribute access is most of this function's cost.
    lines_table = batch["receipt_lines"]
    seller_tin, store_id, device_id, seq = record.seller_tin, record.store_id, env.device_id, env.seq
    shift_number, document_number, day = receipt.shift_number, receipt.document_number, event_time // DAY_MS
    # Column lists appended to directly (no keyword dict per line): lines are most rows of a receipt.
    c = lines_table.columns
    for line_no, line in enumerate(lines, start=1):
        vat = vat_rate_bp = 0
        first_vat = True
        for t in line.taxes[:]:
            if t.tax_type == VAT_TAX_TYPE:
                vat += t.sum
                if first_vat:
                    vat_rate_bp, first_vat = t.rate_bp, False
        ai_label = line.ai_label
        c["seller_tin"].append(seller_tin)
        c["day"].append(day)
        c["gtin"].append(line.gtin)
        c["store_id"].append(store_id)
        c["device_id"].append(device_id)
        c["seq"].append(seq)
        c["shift_number"].append(shift_number)
        c["document_number"].append(document_number)
        c["line_no"].append(line_no)
        c["operation"].append(operation)
        c["event_time"].append(event_time)
        c["name"].append(line.name)
        c["quantity"].append(line.quantity)
        c["price"].append(line.price)
        c["discount"].append(line.discount)
        c["markup"].append(line.markup)
        c["sum"].append(line.sum)
        c["vat"].append(vat)
        c["vat_rate_bp"].append(vat_rate_bp)
        c["marking_codes"].append(line.marking_codes[:])
        c["ai_label"].append(ai_label)
        c["ai_source"].append(ai_source_of(ai_label))


def _shift_row(batch: dict[str, TableRows], record: pb.JournalRecord, event: pb.Event) -> None:
    z = event.shift_close
    per_op = {name: (0, 0) for name in ("SELL", "SELL_RETURN", "BUY", "BUY_RETURN")}
    payments: dict[str, int] = {}
    for totals in z.operations:
        op = enum_name(pb.Operation, totals.operation)
        count, total = per_op.get(op, (0, 0))
        per_op[op] = (count + totals.count, total + totals.sum)
        for p in totals.payments:
            key = f"{op}:{enum_name(pb.PaymentType, p.type)}"
            payments[key] = payments.get(key, 0) + p.sum
    # Net takings per payment type: what sales brought in minus what sale returns paid back.
    net = {column: 0 for column in _PAYMENT_COLUMNS.values()}
    for totals in z.operations:
        sign = {pb.SELL: 1, pb.SELL_RETURN: -1}.get(totals.operation, 0)
        for column, value in _payments(totals.payments).items():
            net[column] += sign * value
    batch["shifts"].add(
        seller_tin=record.seller_tin, store_id=record.store_id, device_id=record.envelope.device_id,
        shift_number=z.shift_number, seq=record.envelope.seq, closed_at=clamp_time(event.time_ms),
        received_at=clamp_time(record.received_ms), cashier=z.cashier, receipt_count=z.receipt_count,
        sell_count=per_op["SELL"][0], sell_sum=per_op["SELL"][1],
        sell_return_count=per_op["SELL_RETURN"][0], sell_return_sum=per_op["SELL_RETURN"][1],
        buy_count=per_op["BUY"][0], buy_sum=per_op["BUY"][1],
        buy_return_count=per_op["BUY_RETURN"][0], buy_return_sum=per_op["BUY_RETURN"][1],
        **net, payments=payments, cash_deposits=z.cash_deposits, cash_withdrawals=z.cash_withdrawals,
        cash_in_drawer=z.cash_in_drawer, first_document_number=z.first_document_number,
        last_document_number=z.last_document_number,
    )


def _event_row(
    batch: dict[str, TableRows], record: pb.JournalRecord, event: pb.Event | None, pii: PiiKeyRing | None
) -> None:
    env = record.envelope
    # Event bytes naming a buyer are never stored in clear: sealed (consent) or not at all.
    stored = protect_event(pii, record, event)
    if stored.buyer_row is not None:
        row = dict(stored.buyer_row)
        row["event_time"] = clamp_time(row["event_time"])
        row["consent_expires_at"] = clamp_time(row["consent_expires_at"])
        batch["receipt_buyers"].add(**row)
    batch["events"].add(
        seller_tin=record.seller_tin, store_id=record.store_id, device_id=env.device_id, seq=env.seq,
        kind=(event.WhichOneof("body") or "empty") if event is not None else "undecodable",
        event_time=clamp_time(event.time_ms if event is not None else 0),
        received_at=clamp_time(record.received_ms), envelope_hash=record.envelope_hash,
        prev_hash=env.prev_hash, signature=env.signature, key_id=env.key_id, event=stored.event_bytes,
        fiscal_sign=record.fiscal_sign, gateway_id=record.gateway_id, protection=stored.protection,
    )


def _rejection_row(batch: dict[str, TableRows], record: pb.JournalRecord, event: pb.Event | None) -> None:
    env = strip_rejected(record.envelope, event)
    batch["rejections"].add(
        device_id=env.device_id, seq=env.seq, received_at=clamp_time(record.received_ms),
        error_code=record.error_code, detail=record.detail, envelope_hash=record.envelope_hash,
        seller_tin=record.seller_tin, store_id=record.store_id, key_id=env.key_id,
        gateway_id=record.gateway_id, envelope=env.SerializeToString(),
    )


def _anomaly_rows(batch: dict[str, TableRows], record: pb.JournalRecord, event: pb.Event | None) -> None:
    for finding in record.findings[:]:
        batch["anomalies"].add(
            kind=finding.kind, detected_at=clamp_time(record.received_ms),
            event_time=clamp_time(event.time_ms if event is not None else 0), seller_tin=record.seller_tin,
            store_id=record.store_id, device_id=record.envelope.device_id, seq=record.envelope.seq,
            accepted=record.accepted, line=finding.line, cis=finding.cis, detail=finding.detail,
        )


def build_rows(
    records: Iterable[pb.JournalRecord], pii: PiiKeyRing | None = None
) -> dict[str, TableRows]:
    """Columnar rows for every table from a run of journal records (tables without rows are left out).

    pii: the operator's key ring; without it, event bytes naming a buyer are not stored at all.
    """
    batch = {table: TableRows(table) for table in TABLES}
    for record in records:
        event = decode_event(record)
        if is_check_record(record):  # a pre-sale check: outside any chain, neither event nor rejection
            add_code_events(batch["code_events"], record, None)
            continue
        if record.accepted:
            _event_row(batch, record, event, pii)
            if event is not None and event.HasField("receipt"):
                _receipt_rows(batch, record, event)
                add_code_events(batch["code_events"], record, event)
            elif event is not None and event.HasField("shift_close"):
                _shift_row(batch, record, event)
        else:
            _rejection_row(batch, record, event)
        _anomaly_rows(batch, record, event)
    return {table: rows for table, rows in batch.items() if len(rows)}

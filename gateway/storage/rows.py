"""Pure functions turning journal records into columnar row batches, one per table."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from google.protobuf.message import DecodeError

from gateway.ingest.receipt_validation import content_findings
from gateway.security.ai_label import ai_source_of
from gateway.security.buyer_data import CLEAR, ERASED, StoredEvent, kept_envelope, stored_event
from gateway.security.pii_keys import PiiKeyRing
from gateway.storage.code_rows import CODE_EVENTS_COLUMNS, add_check_events, add_receipt_code_events
from gateway.wire import pb

if TYPE_CHECKING:
    from gateway.storage.staged_rows import StagedReceipts

VAT_TAX_TYPE = 100
DAY_MS = 86_400_000
# DateTime64 cannot hold any int64; a device clock far off must not block shipping, so times are clamped
# (the signed event bytes keep the device's exact value).
MAX_TIME_MS = 4_102_444_800_000  # 2100-01-01

COLUMNS: dict[str, tuple[str, ...]] = {
    "events": (
        "seller_tin", "store_id", "device_id", "seq", "kind", "event_time", "received_at", "envelope_hash",
        "prev_hash", "signature", "key_id", "event", "fiscal_sign", "gateway_id", "protection",
        "authentication", "evidence",
    ),
    "receipts": (
        "seller_tin", "store_id", "device_id", "seq", "shift_number", "document_number",
        "shift_document_number", "operation", "event_time", "received_at", "total", "change", "cash", "card",
        "credit", "tare", "mobile", "vat", "line_count", "marked_code_count", "parent_device_id",
        "parent_shift_number", "parent_document_number", "parent_fiscal_sign", "cashier", "fiscal_sign",
        "findings", "discount", "markup", "offline", "offline_number", "parent_register_number",
    ),
    "receipt_lines": (
        "seller_tin", "day", "gtin", "store_id", "device_id", "seq", "shift_number", "document_number",
        "line_no", "operation", "event_time", "name", "quantity", "price", "discount", "markup", "sum", "vat",
        "vat_rate_bp", "marking_codes", "ai_label", "ai_source", "storno", "section_code", "ntin",
        "physical_label", "product_id", "unit",
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
    "code_events": CODE_EVENTS_COLUMNS,  # gateway/storage/code_rows.py; migrations 0002, 0006
    "anomalies": (
        "kind", "detected_at", "event_time", "seller_tin", "store_id", "device_id", "seq", "accepted", "line",
        "cis", "detail", "other_seller_tin", "other_store_id", "facts",  # the last three: migration 0015
    ),
    # An OFD register's exchanges, the newest kept (migration 0012): restored at start (gateway/ofd).
    "ofd_exchanges": (
        "ofd_id", "device_id", "seller_tin", "number", "answered_at", "command", "sealed", "gateway_id",
    ),
}
TABLES = tuple(COLUMNS)
# The receipt path builds its rows as tuples in this column order (_receipt_record, code_rows.py): a column
# added to one of these tables must be added there too, in its place.
_TUPLE_BUILT = {"events": 17, "receipts": 32, "receipt_lines": 28, "code_events": 17, "anomalies": 14}
assert all(len(COLUMNS[t]) == n for t, n in _TUPLE_BUILT.items()), "update _receipt_record's tuples"
PAYMENT_COLUMNS = {
    pb.CASH: "cash", pb.CARD: "card", pb.CREDIT: "credit", pb.TARE: "tare", pb.MOBILE: "mobile",
}
# A receipt's payments are summed into a list indexed by PaymentType: the receipts row's payment columns
# are the types 1..5 in order.
assert list(PAYMENT_COLUMNS) == list(range(1, 6)), "payment columns must be the PaymentType numbers 1..5"
assert list(PAYMENT_COLUMNS.values()) == list(COLUMNS["receipts"][12:17])
_OPERATION_NAMES = {value.number: value.name for value in pb.Operation.DESCRIPTOR.values}
DEVICE_SIGNATURE = "device_signature"  # events.authentication of an event the device signed itself


class TableRows:
    """Rows of one table, kept as tuples in column order and handed to the insert column by column."""

    __slots__ = ("rows", "table")

    def __init__(self, table: str) -> None:
        self.table = table
        # One tuple per row, in COLUMNS[table] order, appended once (no keyword dict, no append per value);
        # data() makes the columns in one pass when the batch is inserted.
        self.rows: list[tuple[Any, ...]] = []

    def add(self, **row: Any) -> None:
        """Append one row given by column name; every column must be given (the tables' rare rows)."""
        self.rows.append(tuple(row[name] for name in COLUMNS[self.table]))

    def __len__(self) -> int:
        return len(self.rows)

    def column_names(self) -> list[str]:
        """Column names in insert order."""
        return list(COLUMNS[self.table])

    def data(self) -> list[list[Any]]:
        """Column lists in insert order."""
        names = COLUMNS[self.table]
        if not self.rows:
            return [[] for _ in names]
        if len(self.rows[0]) != len(names):
            raise ValueError(f"{self.table}: rows of {len(self.rows[0])} values for {len(names)} columns")
        return [list(column) for column in zip(*self.rows, strict=True)]

    @property
    def columns(self) -> dict[str, list[Any]]:
        """Column lists by name."""
        return dict(zip(COLUMNS[self.table], self.data(), strict=True))


def clamp_time(ms: int) -> int:
    """A time in ms that DateTime64(3) and Date can hold."""
    return ms if 0 <= ms <= MAX_TIME_MS else (0 if ms < 0 else MAX_TIME_MS)


def decode_event(record: pb.JournalRecord) -> pb.Event | None:
    """The envelope's Event, or None if its bytes do not parse."""
    return _decode(record.envelope.event)


def _decode(event_bytes: bytes) -> pb.Event | None:
    try:
        return pb.Event.FromString(event_bytes)
    except DecodeError:
        return None


def enum_name(enum: Any, value: int) -> str:
    """The enum value's name, or UNKNOWN_<n>: an authentic event with a newer enum value must still ship."""
    known = enum.DESCRIPTOR.values_by_number.get(value)
    return known.name if known is not None else f"UNKNOWN_{value}"


def _vat(taxes: Iterable[pb.Tax]) -> int:
    return sum(t.sum for t in taxes if t.tax_type == VAT_TAX_TYPE)


def _payments(payments: Iterable[pb.Payment]) -> dict[str, int]:
    out = dict.fromkeys(PAYMENT_COLUMNS.values(), 0)
    for p in payments:
        column = PAYMENT_COLUMNS.get(p.type)
        if column:
            out[column] += p.sum
    return out


def _line_vat(taxes: list[pb.Tax]) -> tuple[int, int]:
    """A line's VAT and the rate of its first VAT tax."""
    if len(taxes) == 1:  # nearly every line: one tax, three reads
        tax = taxes[0]
        return (tax.sum, tax.rate_bp) if tax.tax_type == VAT_TAX_TYPE else (0, 0)
    vat = vat_rate_bp = 0
    first_vat = True
    for tax in taxes:
        if tax.tax_type == VAT_TAX_TYPE:
            vat += tax.sum
            if first_vat:
                vat_rate_bp, first_vat = tax.rate_bp, False
    return vat, vat_rate_bp


def _receipt_record(
    batch: dict[str, TableRows], record: pb.JournalRecord, env: pb.Envelope, event_bytes: bytes,
    event: pb.Event, pii: PiiKeyRing | None,
) -> None:
    """The rows of an accepted receipt: events, receipts, receipt_lines, code_events, anomalies.

    Most records are receipts, and upb's field reads are most of their cost, so every field is read once
    here and each row is one tuple in its table's column order (COLUMNS).
    """
    receipt = event.receipt
    seller_tin, store_id, device_id, seq = record.seller_tin, record.store_id, env.device_id, env.seq
    event_time, received_at = clamp_time(event.time_ms), clamp_time(record.received_ms)
    fiscal_sign = record.fiscal_sign
    stored = _stored_receipt(batch, record, event_bytes, event, pii)
    batch["events"].rows.append((
        seller_tin, store_id, device_id, seq, "receipt", event_time, received_at, record.envelope_hash,
        env.prev_hash, env.signature, env.key_id, stored.event_bytes, fiscal_sign, record.gateway_id,
        stored.protection, record.authentication or DEVICE_SIGNATURE, stored.evidence,
    ))

    operation_number = receipt.operation
    operation = _OPERATION_NAMES.get(operation_number) or enum_name(pb.Operation, operation_number)
    shift_number, document_number, day = receipt.shift_number, receipt.document_number, event_time // DAY_MS
    # upb repeated fields have no __iter__ (a plain loop indexes until IndexError): sliced to lists once.
    lines = receipt.lines[:]
    codes_by_line: list[list[str]] = []
    lines_vat = 0
    add_line = batch["receipt_lines"].rows.append
    for line_no, line in enumerate(lines, start=1):
        vat, vat_rate_bp = _line_vat(line.taxes[:])
        storno = line.storno
        lines_vat += -vat if storno else vat
        codes = line.marking_codes[:]
        codes_by_line.append(codes)
        ai_label = line.ai_label
        add_line((
            seller_tin, day, line.gtin, store_id, device_id, seq, shift_number, document_number, line_no,
            operation, event_time, line.name, line.quantity, line.price, line.discount, line.markup, line.sum,
            vat, vat_rate_bp, codes, ai_label, ai_source_of(ai_label) if ai_label else "", storno,
            line.section_code, line.ntin, line.physical_label, line.product_id, line.unit,
        ))

    paid = [0] * 6  # by PaymentType number; the columns are types 1..5 (CASH..MOBILE), others are dropped
    for payment in receipt.payments[:]:
        payment_type = payment.type
        if 0 < payment_type < 6:
            paid[payment_type] += payment.sum
    taxes = receipt.taxes[:]
    discount, markup = receipt.discount, receipt.markup
    # Without receipt taxes: the lines' VAT (storno lines subtracted), less the discount's, plus the markup's.
    vat = _vat(taxes) if taxes else lines_vat - _vat(discount.taxes[:]) + _vat(markup.taxes[:])
    if receipt.HasField("parent"):  # a return's sale; absent on sales
        parent = receipt.parent
        parent_ref = (parent.device_id, parent.shift_number, parent.document_number, parent.fiscal_sign)
        parent_register_number = parent.register_number
    else:
        parent_ref = ("", 0, 0, "")
        parent_register_number = ""
    findings = record.findings[:]
    kinds = [finding.kind for finding in findings]
    batch["receipts"].rows.append((
        seller_tin, store_id, device_id, seq, shift_number, document_number, receipt.shift_document_number,
        operation, event_time, received_at, receipt.total, receipt.change, paid[1], paid[2], paid[3], paid[4],
        paid[5], vat, len(lines), sum(map(len, codes_by_line)), *parent_ref, receipt.cashier, fiscal_sign,
        kinds, discount.sum, markup.sum, receipt.offline, receipt.offline_number, parent_register_number,
    ))

    verdicts = record.code_verdicts[:]
    if verdicts:
        add_receipt_code_events(
            batch["code_events"], verdicts, lines, codes_by_line, operation_number,
            (event_time, received_at),
            (seller_tin, store_id, device_id, seq, document_number, record.gateway_id),
        )
    add_anomaly = batch["anomalies"].rows.append
    for kind, finding in zip(kinds, findings, strict=True):
        add_anomaly((
            kind, received_at, event_time, seller_tin, store_id, device_id, seq, True, finding.line,
            finding.cis, finding.detail, finding.other_seller_tin, finding.other_store_id, finding.facts,
        ))


def _stored_receipt(
    batch: dict[str, TableRows], record: pb.JournalRecord, event_bytes: bytes, event: pb.Event,
    pii: PiiKeyRing | None,
) -> StoredEvent:
    """A receipt's event bytes and evidence as stored and their protection (and its receipt_buyers row).

    Event bytes naming a buyer are never stored in clear: sealed (consent) or not at all, as the ingest
    stage decided (record.sealed). Most receipts name no buyer and carry no `sealed`; a record journalled
    by a version that left that decision to this stage is asked only when its buyer field is there.
    """
    if not record.HasField("sealed") and not event.receipt.HasField("buyer"):
        return StoredEvent(event_bytes, CLEAR, evidence=record.ofd_frame)
    stored = stored_event(pii, record, event)
    if stored.buyer_row is not None:
        _add_buyer_row(batch, stored.buyer_row)
    return stored


def _add_buyer_row(batch: dict[str, TableRows], buyer_row: dict[str, Any]) -> None:
    row = dict(buyer_row)
    row["event_time"] = clamp_time(row["event_time"])
    row["consent_expires_at"] = clamp_time(row["consent_expires_at"])
    batch["receipt_buyers"].add(**row)


def _shift_row(batch: dict[str, TableRows], record: pb.JournalRecord, event: pb.Event) -> None:
    z = event.shift_close
    per_op = {name: (0, 0) for name in ("SELL", "SELL_RETURN", "BUY", "BUY_RETURN")}
    payments: dict[str, int] = {}
    operations = z.operations[:]
    for totals in operations:
        op = enum_name(pb.Operation, totals.operation)
        count, total = per_op.get(op, (0, 0))
        per_op[op] = (count + totals.count, total + totals.sum)
        for p in totals.payments[:]:
            key = f"{op}:{enum_name(pb.PaymentType, p.type)}"
            payments[key] = payments.get(key, 0) + p.sum
    # Net takings per payment type: what sales brought in minus what sale returns paid back.
    net = {column: 0 for column in PAYMENT_COLUMNS.values()}
    for totals in operations:
        sign = {pb.SELL: 1, pb.SELL_RETURN: -1}.get(totals.operation, 0)
        for column, value in _payments(totals.payments[:]).items():
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
    stored = stored_event(pii, record, event)
    if stored.buyer_row is not None:
        _add_buyer_row(batch, stored.buyer_row)
    batch["events"].add(
        seller_tin=record.seller_tin, store_id=record.store_id, device_id=env.device_id, seq=env.seq,
        kind=(event.WhichOneof("body") or "empty") if event is not None else "undecodable",
        event_time=clamp_time(event.time_ms if event is not None else 0),
        received_at=clamp_time(record.received_ms), envelope_hash=record.envelope_hash,
        prev_hash=env.prev_hash, signature=env.signature, key_id=env.key_id, event=stored.event_bytes,
        fiscal_sign=record.fiscal_sign, gateway_id=record.gateway_id, protection=stored.protection,
        authentication=record.authentication or DEVICE_SIGNATURE, evidence=stored.evidence,
    )


def _rejection_row(batch: dict[str, TableRows], record: pb.JournalRecord) -> None:
    env = kept_envelope(record.envelope)
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
            other_seller_tin=finding.other_seller_tin, other_store_id=finding.other_store_id,
            facts=finding.facts,
        )


def _exchange_row(batch: dict[str, TableRows], record: pb.JournalRecord) -> None:
    log = record.ofd_exchange
    batch["ofd_exchanges"].rows.append((
        log.ofd_id, record.envelope.device_id, record.seller_tin, log.number, clamp_time(log.answered_ms),
        log.command, log.sealed, record.gateway_id,
    ))


def build_rows(
    records: Iterable[pb.JournalRecord], pii: PiiKeyRing | None = None, staged: StagedReceipts | None = None
) -> dict[str, TableRows]:
    """Columnar rows for every table from a run of journal records (tables without rows are left out).

    pii: the operator's key ring; without it, event bytes naming a buyer are not stored at all.
    staged: accepted receipts go there instead, for ClickHouse to build their rows (staged_rows.py); their
    buyers' receipt_buyers rows are still built here.
    An accepted event's content findings are found here (receipt_validation.content_findings) and added
    to the findings its record journalled (chain, codes): the records are changed, so give parsed copies.
    """
    batch = {table: TableRows(table) for table in TABLES}
    for index, record in enumerate(records):
        env = record.envelope
        event_bytes = env.event
        # No bytes kept of an accepted event: undecodable ones that might hide a buyer (buyer_data).
        erased_whole = not event_bytes and record.sealed.protection == ERASED
        event = None if erased_whole else _decode(event_bytes)
        if record.HasField("code_check"):  # a pre-sale check: outside any chain, neither event nor rejection
            add_check_events(batch["code_events"], record)
            continue
        if record.HasField("ofd_exchange"):
            _exchange_row(batch, record)
            if not record.accepted:  # an OFD service command's exchange: no event
                continue
        if record.accepted:
            found = content_findings(event, record.received_ms) if event is not None else []
            if found:
                record.findings.extend(found)
            if event is not None and event.HasField("receipt"):
                if staged is not None:
                    stored = _stored_receipt(batch, record, event_bytes, event, pii)
                    staged.add(index, record, event, stored, found)
                else:
                    _receipt_record(batch, record, env, event_bytes, event, pii)  # its anomalies included
                continue
            _event_row(batch, record, event, pii)
            if event is not None and event.HasField("shift_close"):
                _shift_row(batch, record, event)
        else:
            _rejection_row(batch, record)
        _anomaly_rows(batch, record, event)
    return {table: rows for table, rows in batch.items() if len(rows)}

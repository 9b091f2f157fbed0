"""Pure functions turning journal records into columnar row batches, one per table."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from google.protobuf.message import DecodeError

from gateway.ingest.receipt_validation import content_findings
from gateway.security.buyer_data import CLEAR, ERASED, StoredEvent, kept_envelope, stored_event
from gateway.security.pii_keys import PiiKeyRing
from gateway.storage.code_rows import add_check_events, add_receipt_code_events
from gateway.storage.columns import (
    ANOMALIES,
    COLUMNS,
    EVENTS,
    PAYMENT_COLUMNS,
    RECEIPT_LINES,
    RECEIPTS,
    VAT_TAX_TYPE,
    clamp_time,
)
from gateway.wire import pb

if TYPE_CHECKING:
    from gateway.storage.staged_rows import StagedReceipts

DAY_MS = 86_400_000
TABLES = tuple(COLUMNS)
_OPERATION_NAMES = {value.number: value.name for value in pb.Operation.DESCRIPTOR.values}


_EVENT_ROW = EVENTS.row_builder()
_RECEIPT_ROW = RECEIPTS.row_builder()
_LINE_ROW = RECEIPT_LINES.row_builder()
_ANOMALY_ROW = ANOMALIES.row_builder()


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
    batch: dict[str, TableRows], record: pb.JournalRecord, event_bytes: bytes, event: pb.Event,
    pii: PiiKeyRing | None, findings: list[pb.Finding],
) -> None:
    """The rows of an accepted receipt: events, receipts, receipt_lines, code_events, anomalies.

    Most records are receipts, and upb's field reads are most of their cost, so the fields every row
    repeats are read once here and handed to the row builders (columns.py), positionally in the order of
    each table's scope.
    """
    receipt = event.receipt
    env = record.envelope
    event_time = clamp_time(event.time_ms)
    # The values of columns.KEYS, which every builder takes first (positional: the builders' scope order).
    keys = (
        record.seller_tin, record.store_id, env.device_id, env.seq, event_time, clamp_time(record.received_ms)
    )
    stored = _stored_receipt(batch, record, event_bytes, event, pii)
    batch["events"].rows.append(_EVENT_ROW(*keys, record, env, stored, "receipt"))

    operation_number = receipt.operation
    operation = _OPERATION_NAMES.get(operation_number) or enum_name(pb.Operation, operation_number)
    day = event_time // DAY_MS
    shift_number, document_number = receipt.shift_number, receipt.document_number
    # upb repeated fields have no __iter__ (a plain loop indexes until IndexError): sliced to lists once.
    lines = receipt.lines[:]
    codes_by_line: list[list[str]] = []
    lines_vat = 0
    add_line = batch["receipt_lines"].rows.append
    for line_no, line in enumerate(lines, start=1):
        vat, vat_rate_bp = _line_vat(line.taxes[:])
        lines_vat += -vat if line.storno else vat
        codes = line.marking_codes[:]
        codes_by_line.append(codes)
        add_line(_LINE_ROW(
            *keys, shift_number, document_number, operation, day, line_no, line, vat, vat_rate_bp, codes,
            line.ai_label,
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
    kinds = [finding.kind for finding in findings]
    batch["receipts"].rows.append(_RECEIPT_ROW(
        *keys, shift_number, document_number, record, receipt, receipt.parent, discount, markup, operation,
        paid, vat, len(lines), sum(map(len, codes_by_line)), kinds,
    ))

    verdicts = record.code_verdicts[:]
    if verdicts:
        add_receipt_code_events(
            batch["code_events"], verdicts, lines, codes_by_line, operation_number, keys, document_number,
            record.gateway_id,
        )
    add_anomaly = batch["anomalies"].rows.append
    for finding in findings:
        add_anomaly(_ANOMALY_ROW(*keys, finding, True))


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
    batch["events"].rows.append(_EVENT_ROW(
        seller_tin=record.seller_tin, store_id=record.store_id, device_id=env.device_id, seq=env.seq,
        event_time=clamp_time(event.time_ms if event is not None else 0),
        received_at=clamp_time(record.received_ms), record=record, env=env, stored=stored,
        kind=(event.WhichOneof("body") or "empty") if event is not None else "undecodable",
    ))


def _rejection_row(batch: dict[str, TableRows], record: pb.JournalRecord) -> None:
    env = kept_envelope(record.envelope)
    batch["rejections"].add(
        device_id=env.device_id, seq=env.seq, received_at=clamp_time(record.received_ms),
        error_code=record.error_code, detail=record.detail, envelope_hash=record.envelope_hash,
        seller_tin=record.seller_tin, store_id=record.store_id, key_id=env.key_id,
        gateway_id=record.gateway_id, envelope=env.SerializeToString(),
    )


def _anomaly_rows(
    batch: dict[str, TableRows], record: pb.JournalRecord, event: pb.Event | None, findings: list[pb.Finding]
) -> None:
    add_anomaly = batch["anomalies"].rows.append
    for finding in findings:
        add_anomaly(_ANOMALY_ROW(
            seller_tin=record.seller_tin, store_id=record.store_id, device_id=record.envelope.device_id,
            seq=record.envelope.seq, event_time=clamp_time(event.time_ms if event is not None else 0),
            received_at=clamp_time(record.received_ms), finding=finding, accepted=record.accepted,
        ))


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
    An accepted event's content findings are found here (receipt_validation.content_findings), on the
    storage process's core rather than before the ack, and stored with the findings its record journalled
    (chain, codes). The records are left as they are.
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
            findings = [*record.findings[:], *found]
            if event is not None and event.HasField("receipt"):
                if staged is not None:
                    stored = _stored_receipt(batch, record, event_bytes, event, pii)
                    staged.add(index, record, event, stored, found)
                else:  # its anomalies included
                    _receipt_record(batch, record, event_bytes, event, pii, findings)
                continue
            _event_row(batch, record, event, pii)
            if event is not None and event.HasField("shift_close"):
                _shift_row(batch, record, event)
        else:
            _rejection_row(batch, record)
            findings = record.findings[:]
        _anomaly_rows(batch, record, event, findings)
    return {table: rows for table, rows in batch.items() if len(rows)}

"""Every table the shipper writes, its columns defined once: Python rows and staged views derive from it.

A receipt's five tables (events, receipts, receipt_lines, code_events, anomalies) are built two ways: in
Python (rows.py: servers, clusters, quarantine replay) and by ClickHouse's materialized views over the
stage table (staged_rows.py: chDB). Each of their columns is one `Column` here: its name, its value as a
Python expression over the builder's names (`Table.scope`), its value as SQL over the stage table, and the
JournalRecord fields that SQL reads (they make the stage table's shadow schema). rows.py compiles each
table's Python row builder from these; staged_rows.py renders the views and the stage table from them.

Adding a receipt field: the `.proto`, one `receipt_field(...)` (or `line_field(...)`) line below, and a
migration (ALTER ADD COLUMN, and the stage table and views replaced: docs/contributing.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from gateway.security.ai_label import KNOWN_KEYS, MAX_LABEL_CHARS, SOURCE_TYPES, VERSION_TAG, ai_source_of
from gateway.wire import pb

MAX_TIME_MS = 4_102_444_800_000  # 2100-01-01: the latest time rows.clamp_time keeps
VAT_TAX_TYPE = 100
DEVICE_SIGNATURE = "device_signature"  # events.authentication of an event the device signed itself


@dataclass(frozen=True)
class Column:
    """One column: its name, its value in Python and in the staged view's SQL, the fields that SQL reads."""

    name: str
    py: str  # a Python expression over the names of its table's scope
    sql: str  # a SQL expression over the stage table's columns (and the view's ARRAY JOIN names)
    reads: tuple[str, ...] = ()  # JournalRecord field paths ("envelope.event.receipt.total")


@dataclass(frozen=True)
class Table:
    """A table's columns in insert order; staged tables also say how their view makes rows."""

    name: str
    columns: tuple[Column, ...]
    scope: tuple[str, ...] = ()  # the names the Python row builder takes (keyword arguments)
    array_join: str = ""  # the view's ARRAY JOIN (one row per element), "" for one row per receipt

    @property
    def names(self) -> tuple[str, ...]:
        """Column names in insert order."""
        return tuple(column.name for column in self.columns)

    def row_builder(self) -> Callable[..., tuple[Any, ...]]:
        """The function making one row tuple from the names of the scope (keyword arguments only).

        Compiled once from the columns' Python expressions: a row is one tuple built in one call, and its
        order cannot disagree with the definition.
        """
        source = f"lambda {', '.join(self.scope)}: ({', '.join(c.py for c in self.columns)},)"
        names = {"ai_source_of": ai_source_of, "DEVICE_SIGNATURE": DEVICE_SIGNATURE}
        code = compile(source, f"<{self.name} row>", "eval")
        return cast(Callable[..., tuple[Any, ...]], eval(code, names))


def clamp_time(ms: int) -> int:
    """A time in ms that DateTime64(3) and Date can hold.

    DateTime64 cannot hold any int64; a device clock far off must not block shipping, so times are clamped
    (the signed event bytes keep the device's exact value).
    """
    return ms if 0 <= ms <= MAX_TIME_MS else (0 if ms < 0 else MAX_TIME_MS)


def _clamped(ms: str) -> str:
    """rows.clamp_time as SQL: a DateTime64(3) between the epoch and 2100."""
    return f"fromUnixTimestamp64Milli(least(greatest({ms}, 0), {MAX_TIME_MS}), 'UTC')"


def _path_sql(path: str) -> str:
    # ClickHouse names a nested field's column by its path: envelope.event.receipt.total is
    # envelope_event_receipt_total (repeated messages are arrays of named tuples instead).
    return path.replace(".", "_")


def record_field(path: str, name: str = "") -> Column:
    """A column holding a JournalRecord field as it is (path: "fiscal_sign", "envelope.key_id").

    In Python, the record is `record` and its envelope `env` (names of the table's scope).
    """
    py = f"env.{path.removeprefix('envelope.')}" if path.startswith("envelope.") else f"record.{path}"
    return Column(name or path.rsplit(".", 1)[-1], py, _path_sql(path), (path,))


_RECEIPT = "envelope.event.receipt."


def receipt_field(path: str, name: str = "") -> Column:
    """A receipts column holding a Receipt field as it is (path: "total", "parent.device_id").

    In Python, the receipt is `receipt`, and a nested field's message is a name of the scope (`parent`,
    `discount`, `markup`: read once a receipt).
    """
    py = path if "." in path else f"receipt.{path}"
    return Column(name or _path_sql(path), py, _path_sql(_RECEIPT + path), (_RECEIPT + path,))


def line_field(name: str) -> Column:
    """A receipt_lines column holding a ReceiptLine field as it is."""
    return Column(name, f"line.{name}", f"line.{name}", (f"{_RECEIPT}lines.{name}",))


def _element_field(element: str, path: str, name: str, column: str = "") -> Column:
    return Column(column or name, f"{element}.{name}", f"{element}.{name}", (f"{path}.{name}",))


def _taxes(path: str) -> tuple[str, ...]:
    return tuple(f"{path}.{name}" for name in ("tax_type", "rate_bp", "sum"))


def _vat(taxes: str) -> str:
    return f"arraySum(t -> if(t.tax_type = {VAT_TAX_TYPE}, t.sum, 0), {taxes})"


def _strings(values: list[str]) -> str:
    return "[" + ", ".join(f"'{value}'" for value in values) + "]"


def _operation_name(number: str) -> str:
    """rows.enum_name(pb.Operation, n) as SQL."""
    values = pb.Operation.DESCRIPTOR.values
    numbers = "[" + ", ".join(str(value.number) for value in values) + "]"
    return (f"transform({number}, {numbers}, {_strings([value.name for value in values])}, "
            f"concat('UNKNOWN_', toString({number})))")


def _ai_source(label: str) -> str:
    """ai_label.ai_source_of as SQL: the src of a valid label, else ''."""
    keys = "|".join(sorted(KNOWN_KEYS))
    valid = (
        f"length({label}) <= {MAX_LABEL_CHARS}"
        f" AND match({label}, '^{VERSION_TAG}(;({keys}|x-[a-z0-9-]{{1,30}})=[A-Za-z0-9._:/+-]{{1,64}})+$')"
        # each key once (values hold neither ';' nor '=', so every ';key=' is a key)
        f" AND length(arrayDistinct(extractAll({label}, ';([a-z0-9-]+)=')))"
        f" = length(extractAll({label}, ';([a-z0-9-]+)='))"
        f" AND extract({label}, ';src=([^;]*)') IN {_strings(sorted(SOURCE_TYPES))}"
    )
    return f"if({valid}, extract({label}, ';src=([^;]*)'), '')"


# The names every receipt table's builder is given, read once per receipt, and their SQL.
KEYS = ("seller_tin", "store_id", "device_id", "seq", "event_time", "received_at")
_SELLER_TIN = Column("seller_tin", "seller_tin", "seller_tin", ("seller_tin",))
_STORE_ID = Column("store_id", "store_id", "store_id", ("store_id",))
_DEVICE_ID = Column("device_id", "device_id", "envelope_device_id", ("envelope.device_id",))
_SEQ = Column("seq", "seq", "envelope_seq", ("envelope.seq",))
_EVENT_TIME = Column(
    "event_time", "event_time", _clamped("envelope_event_time_ms"), ("envelope.event.time_ms",)
)
_RECEIVED_AT = Column("received_at", "received_at", _clamped("received_ms"), ("received_ms",))
_R = _path_sql(_RECEIPT)
_SHIFT_NUMBER = Column(
    "shift_number", "shift_number", f"{_R}shift_number", (f"{_RECEIPT}shift_number",)
)
_DOCUMENT_NUMBER = Column(
    "document_number", "document_number", f"{_R}document_number", (f"{_RECEIPT}document_number",)
)
_OPERATION = Column("operation", "operation", _operation_name(f"{_R}operation"), (f"{_RECEIPT}operation",))
# The receipts row's payment columns are the PaymentType numbers 1..5, in order.
PAYMENT_COLUMNS = {
    pb.CASH: "cash", pb.CARD: "card", pb.CREDIT: "credit", pb.TARE: "tare", pb.MOBILE: "mobile",
}
assert list(PAYMENT_COLUMNS) == list(range(1, 6)), "payment columns must be the PaymentType numbers 1..5"

EVENTS = Table("events", scope=(*KEYS, "record", "env", "stored", "kind"), columns=(
    _SELLER_TIN, _STORE_ID, _DEVICE_ID, _SEQ,
    Column("kind", "kind", "'receipt'"),  # the view serves receipts only; rows.py names every other kind
    _EVENT_TIME, _RECEIVED_AT,
    record_field("envelope_hash"),
    record_field("envelope.prev_hash", "prev_hash"),
    record_field("envelope.signature", "signature"),
    record_field("envelope.key_id", "key_id"),
    # Python appends the event bytes and evidence as stored (sealed when they name a buyer) to each record.
    Column("event", "stored.event_bytes", "stored_event"),
    record_field("fiscal_sign"),
    record_field("gateway_id"),
    Column("protection", "stored.protection", "protection"),
    Column("authentication", "record.authentication or DEVICE_SIGNATURE",
           f"if(authentication = '', '{DEVICE_SIGNATURE}', authentication)", ("authentication",)),
    Column("evidence", "stored.evidence", "stored_evidence"),
    # The SHA-256 of the signed event bytes, kept however they are (an audit export checks the signature
    # with it): of the bytes kept in clear, else as journalled with sealed or erased ones (Python appends it).
    Column("event_sha256", "stored.event_sha256",
           "if(protection = '', SHA256(stored_event), stored_event_sha256)"),
))

RECEIPTS = Table(
    "receipts",
    scope=(
        *KEYS, "shift_number", "document_number", "record", "receipt", "parent", "discount", "markup",
        "operation", "paid", "vat", "line_count", "marked_code_count", "kinds",
    ),
    columns=(
        _SELLER_TIN, _STORE_ID, _DEVICE_ID, _SEQ, _SHIFT_NUMBER, _DOCUMENT_NUMBER,
        receipt_field("shift_document_number"),
        _OPERATION, _EVENT_TIME, _RECEIVED_AT,
        receipt_field("total"),
        receipt_field("change"),
        *(Column(name, f"paid[{number}]", f"arraySum(p -> if(p.type = {number}, p.sum, 0), {_R}payments)",
                 (f"{_RECEIPT}payments.type", f"{_RECEIPT}payments.sum"))
          for number, name in PAYMENT_COLUMNS.items()),
        # Without receipt taxes: the lines' VAT (storno lines subtracted), less the discount's, plus the
        # markup's.
        Column("vat", "vat", f"""if(notEmpty({_R}taxes), {_vat(_R + 'taxes')},
       arraySum(l -> if(l.storno, -1, 1) * {_vat('l.taxes')}, {_R}lines)
       - {_vat(_R + 'discount_taxes')} + {_vat(_R + 'markup_taxes')})""",
               (*_taxes(f"{_RECEIPT}taxes"), *_taxes(f"{_RECEIPT}lines.taxes"), f"{_RECEIPT}lines.storno",
                *_taxes(f"{_RECEIPT}discount.taxes"), *_taxes(f"{_RECEIPT}markup.taxes"))),
        Column("line_count", "line_count", f"length({_R}lines)"),
        Column("marked_code_count", "marked_code_count", f"arraySum(l -> length(l.marking_codes), {_R}lines)",
               (f"{_RECEIPT}lines.marking_codes",)),
        receipt_field("parent.device_id"),  # a return's sale; absent (defaults) on sales
        receipt_field("parent.shift_number"),
        receipt_field("parent.document_number"),
        receipt_field("parent.fiscal_sign"),
        receipt_field("cashier"),
        record_field("fiscal_sign"),
        Column("findings", "kinds", "arrayMap(f -> f.kind, findings)", ("findings.kind",)),
        receipt_field("discount.sum", "discount"),
        receipt_field("markup.sum", "markup"),
        receipt_field("offline"),
        receipt_field("offline_number"),
        receipt_field("parent.register_number"),
    ),
)

_LINES = f"{_RECEIPT}lines"
RECEIPT_LINES = Table(
    "receipt_lines",
    scope=(
        *KEYS, "shift_number", "document_number", "operation", "day", "line_no", "line", "vat", "vat_rate_bp",
        "codes", "ai_label",
    ),
    array_join=f"ARRAY JOIN {_R}lines AS line, arrayEnumerate({_R}lines) AS line_index",
    columns=(
        _SELLER_TIN,
        Column("day", "day", "toDate(event_time)"),  # a UTC day
        line_field("gtin"),
        _STORE_ID, _DEVICE_ID, _SEQ, _SHIFT_NUMBER, _DOCUMENT_NUMBER,
        Column("line_no", "line_no", "toUInt32(line_index)"),
        _OPERATION, _EVENT_TIME,
        line_field("name"),
        line_field("quantity"),
        line_field("price"),
        line_field("discount"),
        line_field("markup"),
        line_field("sum"),
        Column("vat", "vat", _vat("line.taxes"), _taxes(f"{_LINES}.taxes")),
        Column(
            "vat_rate_bp", "vat_rate_bp", f"arrayFirst(t -> t.tax_type = {VAT_TAX_TYPE}, line.taxes).rate_bp"
        ),
        Column("marking_codes", "codes", "line.marking_codes", (f"{_LINES}.marking_codes",)),
        Column("ai_label", "ai_label", "line.ai_label", (f"{_LINES}.ai_label",)),
        Column("ai_source", "ai_source_of(ai_label) if ai_label else ''", _ai_source("line.ai_label")),
        line_field("storno"),
        line_field("section_code"),
        line_field("ntin"),
        line_field("physical_label"),
        line_field("product_id"),
        line_field("unit"),
    ),
)


def _verdict(name: str, column: str = "") -> Column:
    return _element_field("verdict", "code_verdicts", name, column)


_VERDICT_LINE = f"verdict.line BETWEEN 1 AND length({_R}lines)"


CODE_EVENTS = Table(
    "code_events",
    scope=(*KEYS, "gateway_id", "document_number", "verdict", "kind", "raw_code", "check_id"),
    array_join="ARRAY JOIN code_verdicts AS verdict",
    columns=(
        _verdict("cis"),
        _EVENT_TIME, _RECEIVED_AT,
        Column("kind", "kind", f"if({_R}operation = {pb.SELL_RETURN}, 'return', 'sale')"),
        _verdict("verdict"),
        _verdict("error_code"),
        # The raw code and check id are the line's, by the verdict's place (line from 1, code_index from 0).
        Column("raw_code", "raw_code", f"""if({_VERDICT_LINE}
         AND verdict.code_index < length({_R}lines[verdict.line].marking_codes),
       {_R}lines[verdict.line].marking_codes[verdict.code_index + 1], '')""",
               ("code_verdicts.code_index", f"{_LINES}.marking_codes")),
        _verdict("gtin"),
        Column("product_group", "verdict.group", "verdict.`group`", ("code_verdicts.group",)),
        _SELLER_TIN, _STORE_ID, _DEVICE_ID, _SEQ,
        _DOCUMENT_NUMBER,
        _verdict("line"),
        Column("check_id", "check_id", f"if({_VERDICT_LINE}, {_R}lines[verdict.line].code_check_id, '')",
               (f"{_LINES}.code_check_id",)),
        Column("gateway_id", "gateway_id", "gateway_id", ("gateway_id",)),
    ),
)


def _finding_field(name: str) -> Column:
    return _element_field("finding", "findings", name)


ANOMALIES = Table(
    "anomalies", scope=(*KEYS, "finding", "accepted"), array_join="ARRAY JOIN findings AS finding",
    columns=(
        _finding_field("kind"),
        Column("detected_at", "received_at", _RECEIVED_AT.sql, _RECEIVED_AT.reads),
        _EVENT_TIME, _SELLER_TIN, _STORE_ID, _DEVICE_ID, _SEQ,
        Column("accepted", "accepted", "true"),  # the view serves accepted receipts only
        _finding_field("line"),
        _finding_field("cis"),
        _finding_field("detail"),
        _finding_field("other_seller_tin"),
        _finding_field("other_store_id"),
        _finding_field("facts"),
    ),
)

# Built in Python from receipts: the tables the staged views write too.
STAGED = (EVENTS, RECEIPTS, RECEIPT_LINES, CODE_EVENTS, ANOMALIES)


def _plain(name: str, *columns: str) -> Table:
    """A table only rows.py builds, by column name (TableRows.add)."""
    return Table(name, tuple(Column(column, column, column) for column in columns))


SHIFTS = _plain(
    "shifts", "seller_tin", "store_id", "device_id", "shift_number", "seq", "closed_at", "received_at",
    "cashier", "receipt_count", "sell_count", "sell_sum", "sell_return_count", "sell_return_sum", "buy_count",
    "buy_sum", "buy_return_count", "buy_return_sum", *PAYMENT_COLUMNS.values(), "payments", "cash_deposits",
    "cash_withdrawals", "cash_in_drawer", "first_document_number", "last_document_number",
)
REJECTIONS = _plain(
    "rejections", "device_id", "seq", "received_at", "error_code", "detail", "envelope_hash", "seller_tin",
    "store_id", "key_id", "gateway_id", "envelope",
)
# Buyer contacts sealed per receipt (gateway/security/buyer_data.py).
RECEIPT_BUYERS = _plain(
    "receipt_buyers", "seller_tin", "device_id", "seq", "event_time", "consent_purpose", "consent_expires_at",
    "key_id", "wrapped_key", "email", "phone", "iin", "email_hash", "phone_hash", "iin_hash",
)
# An OFD register's exchanges, the newest kept: restored at start (gateway/ofd).
OFD_EXCHANGES = _plain(
    "ofd_exchanges", "ofd_id", "device_id", "seller_tin", "number", "answered_at", "command", "sealed",
    "gateway_id",
)

ALL = (
    EVENTS, RECEIPTS, RECEIPT_LINES, SHIFTS, REJECTIONS, RECEIPT_BUYERS, CODE_EVENTS, ANOMALIES,
    OFD_EXCHANGES,
)
COLUMNS: dict[str, tuple[str, ...]] = {table.name: table.names for table in ALL}

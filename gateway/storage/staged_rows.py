"""Accepted receipts' rows built by ClickHouse itself, from the journal records as they are (embedded chDB).

Building a receipt's seven rows in Python was most of the storage process's CPU: 50-70 µs a receipt,
against 8-9 µs to stage its record (docs/performance.md). ClickHouse reads protobuf: the records of
accepted receipts go, length-delimited and unchanged, into the Null table `journal_receipts` under a shadow
schema that reads `Envelope.event` (bytes on the wire) as the `Event` message it holds, and materialized
views write the events, receipts, receipt_lines, code_events and anomalies rows. Python only appends the
event bytes as stored (sealed when they name a buyer) and their protection, as two extra fields, and
builds a buyer's `receipt_buyers` row itself. Every other record (rejections, shifts, checks, other events)
keeps the Python rows of rows.py, which also remain the reference: tests/storage/test_staged_rows.py
compares both paths table by table and column by column.

One insert carries the dedup token of the stage table; ClickHouse derives each view's token from it, so
a resent range is dropped in every table the views write. Used on chDB, whose engine ships with this
package and reads the schema from a file beside its directory; a server would need the file in its own
`format_schemas` directory, and a cluster dedup through views into Distributed tables, neither tested
here, so servers and clusters keep the Python rows (migrations 0007 and 0013 create the views on one node
only).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from gateway.security.ai_label import KNOWN_KEYS, MAX_LABEL_CHARS, SOURCE_TYPES, VERSION_TAG
from gateway.security.buyer_data import StoredEvent
from gateway.storage.rows import DAY_MS, DEVICE_SIGNATURE, MAX_TIME_MS, PAYMENT_COLUMNS, VAT_TAX_TYPE
from gateway.wire import pb

STAGE_TABLE = "journal_receipts"
# Fields Python appends to a staged record (never fields of JournalRecord: asserted below).
STORED_EVENT_FIELD = 1000  # the event bytes as events.event keeps them
PROTECTION_FIELD = 1001  # events.protection ("" for clear bytes)
STORED_EVIDENCE_FIELD = 1002  # the evidence (an OFD frame) as events.evidence keeps it
_APPENDED = {STORED_EVENT_FIELD, PROTECTION_FIELD, STORED_EVIDENCE_FIELD}
assert not _APPENDED & set(pb.JournalRecord.DESCRIPTOR.fields_by_number)

# The fields each view reads, by message (numbers and types come from the wire schema itself).
_SHADOW_FIELDS: dict[str, tuple[str, ...]] = {
    "JournalRecord": (
        "envelope", "received_ms", "envelope_hash", "fiscal_sign", "seller_tin", "store_id", "findings",
        "gateway_id", "code_verdicts", "authentication",
    ),
    "Envelope": ("device_id", "seq", "prev_hash", "event", "signature", "key_id"),
    "Event": ("time_ms", "receipt"),
    "Receipt": (
        "operation", "shift_number", "document_number", "shift_document_number", "cashier", "lines",
        "payments", "total", "change", "taxes", "parent", "discount", "markup", "offline", "offline_number",
    ),
    "ReceiptLine": (
        "name", "gtin", "quantity", "price", "discount", "markup", "sum", "taxes", "marking_codes",
        "code_check_id", "ai_label", "storno", "section_code", "ntin", "physical_label", "product_id", "unit",
    ),
    "Tax": ("tax_type", "rate_bp", "sum"),
    "Payment": ("type", "sum"),
    "Adjustment": ("sum", "taxes"),
    "ParentDocument": ("device_id", "shift_number", "document_number", "fiscal_sign", "register_number"),
    "Finding": ("kind", "line", "detail", "cis", "other_seller_tin", "other_store_id", "facts"),
    "CodeVerdictRecord": ("line", "code_index", "cis", "verdict", "error_code", "gtin", "group"),
}
_SCALAR_TYPES = {
    FieldDescriptor.TYPE_INT64: "int64", FieldDescriptor.TYPE_UINT64: "uint64",
    FieldDescriptor.TYPE_INT32: "int32", FieldDescriptor.TYPE_UINT32: "uint32",
    FieldDescriptor.TYPE_STRING: "string", FieldDescriptor.TYPE_BYTES: "bytes",
    FieldDescriptor.TYPE_BOOL: "bool",
    # Enums are read as their numbers: a newer register's value must not fail the insert (rows.py names
    # unknown ones UNKNOWN_<n>, and so do the views).
    FieldDescriptor.TYPE_ENUM: "int32",
}


def _shadow_message(name: str) -> str:
    descriptor: Descriptor = getattr(pb, name).DESCRIPTOR
    lines = []
    for field_name in _SHADOW_FIELDS[name]:
        field = descriptor.fields_by_name[field_name]
        if (name, field_name) == ("Envelope", "event"):
            type_name = "Event"  # the same wire bytes, read as the message they hold
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            assert field.message_type is not None
            type_name = field.message_type.name
        else:
            type_name = _SCALAR_TYPES[field.type]
        repeated = "repeated " if field.is_repeated else ""
        lines.append(f"  {repeated}{type_name} {field_name} = {field.number};")
    if name == "JournalRecord":
        lines.append(f"  bytes stored_event = {STORED_EVENT_FIELD};")
        lines.append(f"  string protection = {PROTECTION_FIELD};")
        lines.append(f"  bytes stored_evidence = {STORED_EVIDENCE_FIELD};")
    return f"message {name} {{\n" + "\n".join(lines) + "\n}"


SHADOW_SCHEMA = 'syntax = "proto3";\n' + "\n".join(_shadow_message(name) for name in _SHADOW_FIELDS) + "\n"


_SCHEMA_NAME = f"journal_record-{hashlib.sha256(SHADOW_SCHEMA.encode()).hexdigest()[:16]}.proto"


def schema_file(chdb_url: str) -> Path:
    """The shadow schema as a file beside the chDB directory, written once (its name carries its hash).

    A file, not `format_schema_source = 'string'`: chDB would cache that under the working directory.
    """
    directory = Path(chdb_url.removeprefix("chdb://").rstrip("/"))
    path = directory.with_name(directory.name + ".schemas") / _SCHEMA_NAME
    if not path.exists():
        path.parent.mkdir(mode=0o700, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        partial.write_text(SHADOW_SCHEMA)
        partial.replace(path)  # whole or absent, whoever writes it first
    return path


_TAX = "Tuple(tax_type UInt32, rate_bp UInt32, sum Int64)"
# Columns by the fields' paths (ClickHouse matches `envelope_event_receipt_total` to envelope.event.
# receipt.total); repeated messages are arrays of named tuples.
STAGE_COLUMNS = f"""
    seller_tin String,
    store_id String,
    gateway_id String,
    received_ms Int64,
    envelope_hash FixedString(32),
    fiscal_sign String,
    findings Array(Tuple(kind String, line Int32, detail String, cis String, other_seller_tin String,
        other_store_id String, facts String)),
    code_verdicts Array(Tuple(line UInt32, code_index UInt32, cis String, verdict String, error_code String,
        gtin String, `group` String)),
    authentication String,
    envelope_device_id String,
    envelope_seq UInt64,
    envelope_prev_hash FixedString(32),
    envelope_signature String,
    envelope_key_id String,
    envelope_event_time_ms Int64,
    envelope_event_receipt_operation Int32,
    envelope_event_receipt_shift_number UInt32,
    envelope_event_receipt_document_number UInt64,
    envelope_event_receipt_shift_document_number UInt32,
    envelope_event_receipt_cashier String,
    envelope_event_receipt_lines Array(Tuple(name String, gtin String, quantity Int64, price Int64,
        discount Int64, markup Int64, sum Int64, taxes Array({_TAX}), marking_codes Array(String),
        code_check_id String, ai_label String, storno Bool, section_code String, ntin String,
        physical_label String, product_id String, unit String)),
    envelope_event_receipt_payments Array(Tuple(type Int32, sum Int64)),
    envelope_event_receipt_total Int64,
    envelope_event_receipt_change Int64,
    envelope_event_receipt_taxes Array({_TAX}),
    envelope_event_receipt_parent_device_id String,
    envelope_event_receipt_parent_shift_number UInt32,
    envelope_event_receipt_parent_document_number UInt64,
    envelope_event_receipt_parent_fiscal_sign String,
    envelope_event_receipt_parent_register_number String,
    envelope_event_receipt_discount_sum Int64,
    envelope_event_receipt_discount_taxes Array({_TAX}),
    envelope_event_receipt_markup_sum Int64,
    envelope_event_receipt_markup_taxes Array({_TAX}),
    envelope_event_receipt_offline Bool,
    envelope_event_receipt_offline_number UInt32,
    stored_event String,
    protection String,
    stored_evidence String
"""


def _sql_strings(values: Any) -> str:
    return "[" + ", ".join("'" + value + "'" for value in values) + "]"


def _clamped_time(ms: str) -> str:
    """rows.clamp_time as SQL: a DateTime64(3) between the epoch and 2100."""
    return f"fromUnixTimestamp64Milli(least(greatest({ms}, 0), {MAX_TIME_MS}), 'UTC')"


def _operation_name(number: str) -> str:
    """rows.enum_name(pb.Operation, n) as SQL."""
    values = pb.Operation.DESCRIPTOR.values
    numbers = "[" + ", ".join(str(value.number) for value in values) + "]"
    return (f"transform({number}, {numbers}, {_sql_strings(value.name for value in values)}, "
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
        f" AND extract({label}, ';src=([^;]*)') IN {_sql_strings(sorted(SOURCE_TYPES))}"
    )
    return f"if({valid}, extract({label}, ';src=([^;]*)'), '')"


def _vat_of(taxes: str) -> str:
    return f"arraySum(t -> if(t.tax_type = {VAT_TAX_TYPE}, t.sum, 0), {taxes})"


_RECEIPT = "envelope_event_receipt_"
_KEYS = f"""seller_tin, store_id, envelope_device_id AS device_id, envelope_seq AS seq,
    {_clamped_time('envelope_event_time_ms')} AS event_time"""
_RECEIVED = _clamped_time("received_ms")
_COMMON = f"{_KEYS}, {_RECEIVED} AS received_at"

# Each view: (target table, SELECT … FROM the stage table); the columns are named as the target's, which
# ClickHouse matches by name (columns a view leaves out get their table defaults, as with Python's inserts).
_VIEWS: dict[str, str] = {
    "events": f"""SELECT {_COMMON}, 'receipt' AS kind, envelope_hash, envelope_prev_hash AS prev_hash,
    envelope_signature AS signature, envelope_key_id AS key_id, stored_event AS event, fiscal_sign,
    gateway_id, protection, if(authentication = '', '{DEVICE_SIGNATURE}', authentication) AS authentication,
    stored_evidence AS evidence
FROM {{stage}}""",
    "receipts": f"""SELECT {_COMMON}, {_RECEIPT}shift_number AS shift_number,
    {_RECEIPT}document_number AS document_number, {_RECEIPT}shift_document_number AS shift_document_number,
    {_operation_name(_RECEIPT + 'operation')} AS operation, {_RECEIPT}total AS total,
    {_RECEIPT}change AS change,
    {', '.join(
        f"arraySum(p -> if(p.type = {number}, p.sum, 0), {_RECEIPT}payments) AS {column}"
        for number, column in PAYMENT_COLUMNS.items()
    )},
    if(notEmpty({_RECEIPT}taxes), {_vat_of(_RECEIPT + 'taxes')},
       arraySum(l -> if(l.storno, -1, 1) * {_vat_of('l.taxes')}, {_RECEIPT}lines)
       - {_vat_of(_RECEIPT + 'discount_taxes')} + {_vat_of(_RECEIPT + 'markup_taxes')}) AS vat,
    length({_RECEIPT}lines) AS line_count,
    arraySum(l -> length(l.marking_codes), {_RECEIPT}lines) AS marked_code_count,
    {_RECEIPT}parent_device_id AS parent_device_id, {_RECEIPT}parent_shift_number AS parent_shift_number,
    {_RECEIPT}parent_document_number AS parent_document_number,
    {_RECEIPT}parent_fiscal_sign AS parent_fiscal_sign, {_RECEIPT}cashier AS cashier, fiscal_sign,
    arrayMap(f -> f.kind, findings) AS findings, {_RECEIPT}discount_sum AS discount,
    {_RECEIPT}markup_sum AS markup, {_RECEIPT}offline AS offline, {_RECEIPT}offline_number AS offline_number,
    {_RECEIPT}parent_register_number AS parent_register_number
FROM {{stage}}""",
    "receipt_lines": f"""SELECT {_KEYS}, toDate(event_time) AS day, line.gtin AS gtin,
    {_RECEIPT}shift_number AS shift_number, {_RECEIPT}document_number AS document_number,
    toUInt32(line_no) AS line_no, {_operation_name(_RECEIPT + 'operation')} AS operation,
    line.name AS name, line.quantity AS quantity, line.price AS price, line.discount AS discount,
    line.markup AS markup, line.sum AS sum, {_vat_of('line.taxes')} AS vat,
    arrayFirst(t -> t.tax_type = {VAT_TAX_TYPE}, line.taxes).rate_bp AS vat_rate_bp,
    line.marking_codes AS marking_codes, line.ai_label AS ai_label,
    {_ai_source('line.ai_label')} AS ai_source, line.storno AS storno, line.section_code AS section_code,
    line.ntin AS ntin, line.physical_label AS physical_label, line.product_id AS product_id, line.unit AS unit
FROM {{stage}}
ARRAY JOIN {_RECEIPT}lines AS line, arrayEnumerate({_RECEIPT}lines) AS line_no""",
    # code_rows.add_receipt_code_events: the raw code and check id are the line's, by the verdict's place.
    "code_events": f"""SELECT {_COMMON}, verdict.cis AS cis,
    if({_RECEIPT}operation = {pb.SELL_RETURN}, 'return', 'sale') AS kind, verdict.verdict AS verdict,
    verdict.error_code AS error_code,
    if(verdict.line BETWEEN 1 AND length({_RECEIPT}lines)
         AND verdict.code_index < length({_RECEIPT}lines[verdict.line].marking_codes),
       {_RECEIPT}lines[verdict.line].marking_codes[verdict.code_index + 1], '') AS raw_code,
    verdict.gtin AS gtin, verdict.`group` AS product_group,
    {_RECEIPT}document_number AS document_number, verdict.line AS line,
    if(verdict.line BETWEEN 1 AND length({_RECEIPT}lines),
       {_RECEIPT}lines[verdict.line].code_check_id, '') AS check_id,
    gateway_id
FROM {{stage}}
ARRAY JOIN code_verdicts AS verdict""",
    "anomalies": f"""SELECT {_KEYS}, finding.kind AS kind, {_RECEIVED} AS detected_at, true AS accepted,
    finding.line AS line, finding.cis AS cis, finding.detail AS detail,
    finding.other_seller_tin AS other_seller_tin, finding.other_store_id AS other_store_id,
    finding.facts AS facts
FROM {{stage}}
ARRAY JOIN findings AS finding""",
}
assert DAY_MS == 86_400_000, "receipt_lines.day is toDate(event_time): a UTC day"


def view_name(table: str) -> str:
    """The materialized view that writes `table`'s rows from the stage table."""
    return f"{STAGE_TABLE}_to_{table}"


def view_statements(database: str) -> list[str]:
    """CREATE statements (idempotent) of the stage table's views, one per table they write."""
    stage = f"{database}.{STAGE_TABLE}"
    return [
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.{view_name(table)} TO {database}.{table} AS\n"
        + select.replace("{stage}", stage)
        for table, select in _VIEWS.items()
    ]


def stage_statements(database: str) -> list[str]:
    """The stage table and its views as this code reads and writes them (idempotent CREATEs).

    Migrations keep them as fixed text (the newest: 0017_staged_views_facts.sql); a test checks that the
    newest migration creates exactly these, so a change here needs a new migration that replaces them.
    """
    body = "\n".join("    " + line.strip() for line in STAGE_COLUMNS.strip().splitlines())
    stage = f"CREATE TABLE IF NOT EXISTS {database}.{STAGE_TABLE}\n(\n{body}\n)\nENGINE = Null"
    return [stage, *view_statements(database)]


VIEW_TABLES = tuple(_VIEWS)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_STORED_EVENT_TAG = _varint(STORED_EVENT_FIELD << 3 | 2)
_PROTECTION_TAG = _varint(PROTECTION_FIELD << 3 | 2)
_STORED_EVIDENCE_TAG = _varint(STORED_EVIDENCE_FIELD << 3 | 2)
_FINDINGS_TAG = _varint(pb.JournalRecord.DESCRIPTOR.fields_by_name["findings"].number << 3 | 2)


class StagedReceipts:
    """The records of a batch staged for ClickHouse's views: length-delimited, and the rows they make."""

    __slots__ = ("anomaly_kinds", "frames", "raw", "rows", "schema")

    def __init__(self, raw: Sequence[bytes], schema: Path) -> None:
        self.raw = raw  # the batch's records as the journal holds them
        self.schema = schema  # schema_file()
        self.frames: list[bytes] = []
        self.rows: dict[str, int] = dict.fromkeys(VIEW_TABLES, 0)  # what the views will write, by table
        self.anomaly_kinds: dict[str, int] = {}

    def add(
        self, index: int, record: pb.JournalRecord, event: pb.Event, stored: StoredEvent,
        content_findings: list[pb.Finding],
    ) -> None:
        """Stage the batch's record at index, an accepted receipt, with its event bytes (and evidence) as
        stored and the findings its content gives (added to those its record holds: repeated fields
        concatenate)."""
        event_bytes = stored.event_bytes
        body = self.raw[index] + _STORED_EVENT_TAG + _varint(len(event_bytes)) + event_bytes
        if stored.protection:
            encoded = stored.protection.encode()
            body += _PROTECTION_TAG + _varint(len(encoded)) + encoded
        if stored.evidence:
            body += _STORED_EVIDENCE_TAG + _varint(len(stored.evidence)) + stored.evidence
        for finding in content_findings:
            encoded = finding.SerializeToString()
            body += _FINDINGS_TAG + _varint(len(encoded)) + encoded
        self.frames.append(_varint(len(body)) + body)
        rows = self.rows
        rows["events"] += 1
        rows["receipts"] += 1
        rows["receipt_lines"] += len(event.receipt.lines)
        rows["code_events"] += len(record.code_verdicts)
        findings = record.findings  # the journalled ones and the content ones (build_rows added them)
        if findings:
            rows["anomalies"] += len(findings)
            for finding in findings[:]:
                self.anomaly_kinds[finding.kind] = self.anomaly_kinds.get(finding.kind, 0) + 1

    def __len__(self) -> int:
        return len(self.frames)

    def counts(self) -> dict[str, int]:
        """Rows the views write, by table (tables without rows left out)."""
        return {table: count for table, count in self.rows.items() if count}

    def insert(self, client: Any, database: str, settings: dict[str, Any]) -> None:
        """One insert of every staged record into the stage table (the views write the rows)."""
        client.raw_insert(
            f"{database}.{STAGE_TABLE}", insert_block=b"".join(self.frames), fmt="Protobuf",
            settings=settings | {"format_schema": f"{self.schema}:JournalRecord"},
        )

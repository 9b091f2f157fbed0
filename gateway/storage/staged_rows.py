"""Accepted receipts' rows built by ClickHouse itself, from the journal records as they are (embedded chDB).

Building a receipt's seven rows in Python is most of the storage process's CPU, several times what staging
its record costs (figures: docs/performance.md). ClickHouse reads protobuf: the records of
accepted receipts go, length-delimited and unchanged, into the Null table `journal_receipts` under a shadow
schema that reads `Envelope.event` (bytes on the wire) as the `Event` message it holds, and materialized
views write the events, receipts, receipt_lines, code_events and anomalies rows. Python only appends the
event bytes as stored (sealed when they name a buyer), their protection and evidence and, when they are
not clear, the digest of the signed bytes, as extra fields, and builds a buyer's `receipt_buyers` row
itself. Every other record (rejections, shifts, checks, other events) keeps the Python rows of rows.py.
Both paths are rendered from one definition of the columns (columns.py): the views' SELECTs, the stage
table and the shadow schema here; tests/storage/test_staged_rows.py compares the rows of both paths table
by table and column by column.

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
from typing import Any, cast

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from gateway.security.buyer_data import StoredEvent
from gateway.storage.columns import STAGED, Table
from gateway.wire import pb

STAGE_TABLE = "journal_receipts"
# Fields Python appends to a staged record (never fields of JournalRecord: asserted below).
STORED_EVENT_FIELD = 1000  # the event bytes as events.event keeps them
PROTECTION_FIELD = 1001  # events.protection ("" for clear bytes)
STORED_EVIDENCE_FIELD = 1002  # the evidence (an OFD frame) as events.evidence keeps it
# events.event_sha256 of sealed or erased bytes (of clear ones the view computes it from stored_event)
STORED_EVENT_SHA256_FIELD = 1003
_APPENDED = {STORED_EVENT_FIELD, PROTECTION_FIELD, STORED_EVIDENCE_FIELD, STORED_EVENT_SHA256_FIELD}
assert not _APPENDED & set(pb.JournalRecord.DESCRIPTOR.fields_by_number)

# The type of a field read as protobuf in ClickHouse, and of its stage table column.
_SCALAR_TYPES = {
    FieldDescriptor.TYPE_INT64: ("int64", "Int64"), FieldDescriptor.TYPE_UINT64: ("uint64", "UInt64"),
    FieldDescriptor.TYPE_INT32: ("int32", "Int32"), FieldDescriptor.TYPE_UINT32: ("uint32", "UInt32"),
    FieldDescriptor.TYPE_STRING: ("string", "String"), FieldDescriptor.TYPE_BYTES: ("bytes", "String"),
    FieldDescriptor.TYPE_BOOL: ("bool", "Bool"),
    # Enums are read as their numbers: a newer register's value must not fail the insert (rows.py names
    # unknown ones UNKNOWN_<n>, and so do the views).
    FieldDescriptor.TYPE_ENUM: ("int32", "Int32"),
}
_FIXED = {("JournalRecord", "envelope_hash"), ("Envelope", "prev_hash")}  # SHA-256s: FixedString(32)
_QUOTED = {"group"}  # names ClickHouse reads as keywords inside a tuple type


def _message(descriptor: Descriptor, field: FieldDescriptor) -> Descriptor | None:
    """The message a field holds: Envelope.event is bytes on the wire, read as the Event they hold."""
    if (descriptor.name, field.name) == ("Envelope", "event"):
        return cast(Descriptor, pb.Event.DESCRIPTOR)
    return field.message_type if field.type == FieldDescriptor.TYPE_MESSAGE else None


def _shadow_fields() -> dict[str, dict[str, FieldDescriptor]]:
    """The fields the views read (columns.py), by message, each message's in the order of their numbers."""
    fields: dict[str, dict[str, FieldDescriptor]] = {}
    for table in STAGED:
        for column in table.columns:
            for path in column.reads:
                descriptor: Descriptor | None = cast(Descriptor, pb.JournalRecord.DESCRIPTOR)
                for part in path.split("."):
                    assert descriptor is not None, f"{path}: {part} is a field of a scalar"
                    field = descriptor.fields_by_name[part]
                    fields.setdefault(descriptor.name, {})[part] = field
                    descriptor = _message(descriptor, field)
    return {
        message: dict(sorted(by_name.items(), key=lambda item: item[1].number))
        for message, by_name in fields.items()
    }


_FIELDS = _shadow_fields()


def _shadow_message(name: str) -> str:
    lines = []
    for field_name, field in _FIELDS[name].items():
        held = _message(getattr(pb, name).DESCRIPTOR, field)
        type_name = held.name if held is not None else _SCALAR_TYPES[field.type][0]
        repeated = "repeated " if field.is_repeated else ""
        lines.append(f"  {repeated}{type_name} {field_name} = {field.number};")
    if name == "JournalRecord":
        lines.append(f"  bytes stored_event = {STORED_EVENT_FIELD};")
        lines.append(f"  string protection = {PROTECTION_FIELD};")
        lines.append(f"  bytes stored_evidence = {STORED_EVIDENCE_FIELD};")
        lines.append(f"  bytes stored_event_sha256 = {STORED_EVENT_SHA256_FIELD};")
    return f"message {name} {{\n" + "\n".join(lines) + "\n}"


SHADOW_SCHEMA = 'syntax = "proto3";\n' + "\n".join(_shadow_message(name) for name in _FIELDS) + "\n"


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


def _type(message: str, field: FieldDescriptor) -> str:
    """The ClickHouse type ClickHouse reads a shadow field into (a repeated message: named tuples)."""
    held = _message(getattr(pb, message).DESCRIPTOR, field)
    if held is not None:
        inner = ", ".join(
            f"{f'`{name}`' if name in _QUOTED else name} {_type(held.name, sub)}"
            for name, sub in _FIELDS[held.name].items()
        )
        base = f"Tuple({inner})"
    else:
        base = "FixedString(32)" if (message, field.name) in _FIXED else _SCALAR_TYPES[field.type][1]
    return f"Array({base})" if field.is_repeated else base


def _stage_columns(message: str = "JournalRecord", prefix: str = "") -> list[str]:
    """The stage table's columns, named by the fields' paths.

    ClickHouse matches `envelope_event_receipt_total` to envelope.event.receipt.total; repeated messages
    are arrays of named tuples.
    """
    out = []
    for name, field in _FIELDS[message].items():
        held = _message(getattr(pb, message).DESCRIPTOR, field)
        if held is not None and not field.is_repeated:
            out += _stage_columns(held.name, f"{prefix}{name}_")
        else:
            out.append(f"{prefix}{name} {_type(message, field)}")
    return out


STAGE_COLUMNS = (
    *_stage_columns(), "stored_event String", "protection String", "stored_evidence String",
    "stored_event_sha256 String",
)


def _select(table: Table) -> str:
    columns = ",\n    ".join(c.sql if c.sql == c.name else f"{c.sql} AS {c.name}" for c in table.columns)
    return f"SELECT {columns}\nFROM {{stage}}" + (f"\n{table.array_join}" if table.array_join else "")


# Each view: (target table, SELECT … FROM the stage table); the columns are named as the target's, which
# ClickHouse matches by name (columns a view leaves out get their table defaults, as with Python's inserts).
_VIEWS: dict[str, str] = {table.name: _select(table) for table in STAGED}


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

    Migrations keep them as fixed text (the newest: 0019_staged_views_from_columns.sql); a test checks that
    the newest migration creates exactly these, so a change here needs a new migration that replaces them.
    """
    body = ",\n".join(f"    {column}" for column in STAGE_COLUMNS)
    stage = f"CREATE TABLE IF NOT EXISTS {database}.{STAGE_TABLE}\n(\n{body}\n)\nENGINE = Null"
    return [stage, *view_statements(database)]


VIEW_TABLES = tuple(_VIEWS)


def replacement_sql(migration: str) -> str:
    """The fixed text of a migration that replaces the stage table and its views with these definitions
    (`python -m gateway.storage.staged_rows 00NN_name > gateway/storage/migrations/00NN_name.sql`)."""
    database = "{database}"
    drops = [f"DROP VIEW IF EXISTS {database}.{view_name(table)}" for table in VIEW_TABLES]
    statements = [*drops, f"DROP TABLE IF EXISTS {database}.{STAGE_TABLE}", *stage_statements(database)]
    header = (f"-- Migration {migration[:4]} as released (fixed text); {{database}} stands for the "
              "database's name.\n"
              "-- The stage table and its views replaced, rendered from storage/columns.py.\n")
    return header + "\n;\n".join(statements) + "\n;\n"


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
_STORED_EVENT_SHA256_TAG = _varint(STORED_EVENT_SHA256_FIELD << 3 | 2)
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
        """Stage the batch's record at index, an accepted receipt, with its event bytes (evidence, digest) as
        stored and the findings its content gives (added to those its record holds: repeated fields
        concatenate)."""
        event_bytes = stored.event_bytes
        body = self.raw[index] + _STORED_EVENT_TAG + _varint(len(event_bytes)) + event_bytes
        if stored.protection:
            encoded = stored.protection.encode()
            body += _PROTECTION_TAG + _varint(len(encoded)) + encoded
            digest = stored.event_sha256
            body += _STORED_EVENT_SHA256_TAG + _varint(len(digest)) + digest
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
        findings = [*record.findings[:], *content_findings]  # the journalled ones and the content ones
        if findings:
            rows["anomalies"] += len(findings)
            for finding in findings:
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


if __name__ == "__main__":
    import sys

    sys.stdout.write(replacement_sql(sys.argv[1]))

"""The first schema: events, receipts, receipt lines, shifts, rejections, anomalies, devices."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.storage.table_engine import TableEngine

if TYPE_CHECKING:
    from gateway.storage.migrations import MigrationContext

DESCRIPTION = "events, receipts, receipt_lines, shifts, rejections, anomalies, devices"

_BY_DEVICE = "cityHash64(device_id)"  # a device's chain lives on one shard

EVENTS = """
    seller_tin String,
    store_id LowCardinality(String),
    device_id String,
    seq UInt64,
    kind LowCardinality(String),
    event_time DateTime64(3, 'UTC') CODEC(Delta, ZSTD),
    received_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD),
    envelope_hash FixedString(32),
    prev_hash FixedString(32),
    signature String,
    key_id LowCardinality(String),
    event String CODEC(ZSTD),
    fiscal_sign String,
    gateway_id LowCardinality(String)
"""

RECEIPTS = """
    seller_tin String,
    store_id LowCardinality(String),
    device_id String,
    seq UInt64,
    shift_number UInt32,
    document_number UInt64,
    shift_document_number UInt32,
    operation LowCardinality(String),
    event_time DateTime64(3, 'UTC'),
    received_at DateTime64(3, 'UTC'),
    total Int64,
    change Int64,
    cash Int64,
    card Int64,
    credit Int64,
    tare Int64,
    mobile Int64,
    vat Int64,
    line_count UInt32,
    marked_code_count UInt32,
    parent_device_id String,
    parent_shift_number UInt32,
    parent_document_number UInt64,
    parent_fiscal_sign String,
    cashier String,
    fiscal_sign String,
    findings Array(LowCardinality(String))
"""

RECEIPT_LINES = """
    seller_tin String,
    day Date,
    gtin String,
    store_id LowCardinality(String),
    device_id String,
    seq UInt64,
    shift_number UInt32,
    document_number UInt64,
    line_no UInt32,
    operation LowCardinality(String),
    event_time DateTime64(3, 'UTC'),
    name String,
    quantity Int64,
    price Int64,
    discount Int64,
    markup Int64,
    sum Int64,
    vat Int64,
    vat_rate_bp UInt32,
    marking_codes Array(String)
"""

SHIFTS = """
    seller_tin String,
    store_id LowCardinality(String),
    device_id String,
    shift_number UInt32,
    seq UInt64,
    closed_at DateTime64(3, 'UTC'),
    received_at DateTime64(3, 'UTC'),
    cashier String,
    receipt_count UInt32,
    sell_count UInt32,
    sell_sum Int64,
    sell_return_count UInt32,
    sell_return_sum Int64,
    buy_count UInt32,
    buy_sum Int64,
    buy_return_count UInt32,
    buy_return_sum Int64,
    cash Int64,
    card Int64,
    credit Int64,
    tare Int64,
    mobile Int64,
    payments Map(LowCardinality(String), Int64),
    cash_deposits Int64,
    cash_withdrawals Int64,
    cash_in_drawer Int64,
    first_document_number UInt64,
    last_document_number UInt64
"""

REJECTIONS = """
    device_id String,
    seq UInt64,
    received_at DateTime64(3, 'UTC'),
    error_code LowCardinality(String),
    detail String,
    envelope_hash String,
    seller_tin String,
    store_id LowCardinality(String),
    key_id String,
    gateway_id LowCardinality(String),
    envelope String CODEC(ZSTD)
"""

ANOMALIES = """
    kind LowCardinality(String),
    detected_at DateTime64(3, 'UTC'),
    event_time DateTime64(3, 'UTC'),
    seller_tin String,
    store_id LowCardinality(String),
    device_id String,
    seq UInt64,
    accepted Bool,
    line Int32,
    cis String,
    detail String
"""

DEVICES = """
    device_id String,
    seller_tin String,
    store_id String,
    public_key_pem String,
    key_id String,
    status LowCardinality(String),
    updated_ms Int64
"""


def statements(ctx: MigrationContext) -> list[str]:
    """CREATE TABLE statements of the first schema."""
    month = "toYYYYMM(event_time)"
    tables = [
        ("events", EVENTS, TableEngine(["seller_tin", "device_id", "seq"], month, sharding_key=_BY_DEVICE)),
        ("receipts", RECEIPTS, TableEngine(
            ["seller_tin", "device_id", "shift_number", "document_number"], month, sharding_key=_BY_DEVICE)),
        ("receipt_lines", RECEIPT_LINES, TableEngine(
            ["seller_tin", "day", "gtin"], "toYYYYMM(day)", sharding_key=_BY_DEVICE)),
        ("shifts", SHIFTS, TableEngine(
            ["seller_tin", "device_id", "shift_number"], "toYYYYMM(closed_at)", sharding_key=_BY_DEVICE)),
        # Rejected events are not trusted, so their own time is not either: partitioned by receive time.
        ("rejections", REJECTIONS, TableEngine(
            ["device_id", "received_at"], "toYYYYMM(received_at)", sharding_key=_BY_DEVICE)),
        ("anomalies", ANOMALIES, TableEngine(
            ["kind", "detected_at"], "toYYYYMM(detected_at)", sharding_key=_BY_DEVICE)),
        ("devices", DEVICES, TableEngine(["device_id"], replacing_version="updated_ms")),
    ]
    out: list[str] = []
    for name, columns, engine in tables:
        out.extend(ctx.create_table(name, columns, engine))
    return out

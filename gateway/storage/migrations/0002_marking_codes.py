"""Marking codes: the operator's registry of emitted codes, every code seen on ingest or in a check."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.storage.table_engine import TableEngine

if TYPE_CHECKING:
    from gateway.storage.migrations import MigrationContext

DESCRIPTION = "code_registry, code_events, code_status view"

CODE_REGISTRY = """
    cis String,
    gtin String,
    owner_tin String,
    product_group LowCardinality(String),
    status LowCardinality(String),
    expires_on Nullable(Date),
    raw_code String,
    imported_at DateTime64(3, 'UTC'),
    version UInt64
"""

CODE_EVENTS = """
    cis String,
    event_time DateTime64(3, 'UTC') CODEC(Delta, ZSTD),
    received_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD),
    kind LowCardinality(String),
    verdict LowCardinality(String),
    error_code String,
    raw_code String CODEC(ZSTD),
    gtin String,
    product_group LowCardinality(String),
    seller_tin String,
    store_id String,
    device_id String,
    seq UInt64,
    document_number UInt64,
    line UInt32,
    check_id String
"""

# Latest first by device time, then by arrival: a code's story is the order its events happened in.
_LATEST = "(event_time, received_at, seq)"  # seq: events of one batch can share a millisecond
CODE_STATUS = f"""
SELECT
    cis,
    argMax(kind, {_LATEST}) AS last_kind,
    argMax(verdict, {_LATEST}) AS last_verdict,
    argMax(seller_tin, {_LATEST}) AS last_seller_tin,
    argMax(store_id, {_LATEST}) AS last_store_id,
    max(event_time) AS last_time,
    argMaxIf(kind, {_LATEST}, kind IN ('sale', 'return')) = 'sale' AS sold,
    countIf(kind = 'sale') AS sales,
    countIf(kind = 'return') AS returns,
    countIf(kind = 'check') AS checks,
    uniqExactIf((seller_tin, store_id), kind = 'sale') AS selling_stores
FROM {{database}}.code_events
GROUP BY cis
"""


def statements(ctx: MigrationContext) -> list[str]:
    """CREATE statements of the marking-code tables and the code_status view."""
    by_cis = "cityHash64(cis)"  # every event of one item lands on one shard, next to its registry row
    out: list[str] = []
    out.extend(ctx.create_table(
        "code_registry", CODE_REGISTRY, TableEngine(["cis"], replacing_version="version", sharding_key=by_cis)
    ))
    out.extend(ctx.create_table(
        "code_events", CODE_EVENTS,
        TableEngine(["cis", "event_time"], "toYYYYMM(event_time)", sharding_key=by_cis),
    ))
    # A plain view (no stored state): always exact, and cheap per code since code_events is ordered by cis.
    out.append(
        f"CREATE VIEW IF NOT EXISTS {ctx.database}.code_status{ctx.on_cluster} AS\n"
        + CODE_STATUS.format(database=ctx.database).strip()
    )
    return out

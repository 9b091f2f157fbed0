"""code_events: the gateway that stored each row and when it was inserted, so nodes follow each other."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.storage.migrations import MigrationContext

DESCRIPTION = "code_events.gateway_id, code_events.inserted_at (+ minmax index)"


def _alter(ctx: MigrationContext, table: str, clause: str, *, distributed: bool = True) -> list[str]:
    """ALTER a table (on a cluster: the local replicated table, and the Distributed one if asked)."""
    on_cluster = ctx.on_cluster
    names = [f"{table}_local", table][: 2 if distributed else 1] if on_cluster else [table]
    return [f"ALTER TABLE {ctx.database}.{name}{on_cluster} {clause}" for name in names]


def statements(ctx: MigrationContext) -> list[str]:
    """Add gateway_id (rows from before: '') and inserted_at (set by ClickHouse at insert) to code_events."""
    out = _alter(ctx, "code_events", "ADD COLUMN IF NOT EXISTS gateway_id LowCardinality(String) DEFAULT ''")
    # Insert time, not event or receive time: a node that ships late (an outage, a backlog) inserts late,
    # so a follower reading "inserted since my watermark" never misses its rows (docs/marking-codes.md).
    out += _alter(ctx, "code_events", "ADD COLUMN IF NOT EXISTS inserted_at DateTime64(3, 'UTC') "
                                      "DEFAULT now64(3) CODEC(Delta, ZSTD)")
    # Rows are ordered by cis: without it every follow query would read the whole inserted_at column. Parts
    # made before the watermark are skipped whole; only recent parts (and merges of them) are read.
    out += _alter(ctx, "code_events", "ADD INDEX IF NOT EXISTS inserted_at_minmax inserted_at "
                                      "TYPE minmax GRANULARITY 1", distributed=False)
    return out

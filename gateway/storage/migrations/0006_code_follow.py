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
    # Rows already on disk have no value: ClickHouse computes a default on every read, so now64(3) would
    # make them new at each follow round; they (and rows of not yet upgraded gateways, which write no
    # gateway_id) read their receive time instead. Rows of upgraded gateways store the insert time.
    out += _alter(ctx, "code_events", "ADD COLUMN IF NOT EXISTS inserted_at DateTime64(3, 'UTC') "
                                      "DEFAULT if(gateway_id = '', received_at, now64(3)) CODEC(Delta, ZSTD)")
    # Rows are ordered by cis: without it every follow query would read the whole inserted_at column.
    # Granules inserted before the watermark are skipped, but only in parts that store the column: the
    # MATERIALIZEs write it (and the index) into the parts on disk, as background mutations (values a
    # part already stores are kept). Until they are done, follow queries read those parts whole.
    out += _alter(ctx, "code_events", "ADD INDEX IF NOT EXISTS inserted_at_minmax inserted_at "
                                      "TYPE minmax GRANULARITY 1", distributed=False)
    out += _alter(ctx, "code_events", "MATERIALIZE COLUMN inserted_at", distributed=False)
    out += _alter(ctx, "code_events", "MATERIALIZE INDEX inserted_at_minmax", distributed=False)
    return out

"""chain_heads on a cluster: each device's accepted head in Keeper, moved by compare-and-set before an ack."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.storage.migrations import MigrationContext

DESCRIPTION = "chain_heads (KeeperMap, cluster only): the head each device's next event must follow"


def statements(ctx: MigrationContext) -> list[str]:
    """A KeeperMap table on every server of a cluster, one Keeper path for all (needs the servers'
    keeper_map_path_prefix). One node keeps its heads in memory: nothing else accepts for its devices."""
    if not ctx.on_cluster:
        return []
    return [f"""CREATE TABLE IF NOT EXISTS {ctx.database}.chain_heads{ctx.on_cluster}
(
    device_id String,
    seq UInt64,
    envelope_hash String,
    fiscal_sign String,
    next_seq UInt64,
    gateway_id String,
    updated_ms Int64
)
ENGINE = KeeperMap('/{ctx.database}/chain_heads')
PRIMARY KEY device_id"""]

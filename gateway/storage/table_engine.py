"""Table DDL per topology: MergeTree on one node, Replicated* + Distributed ON CLUSTER on a cluster.

On a cluster every sharded table `<name>` becomes two: `<name>_local`, a `Replicated*MergeTree` on every
server (one Keeper path per shard), and `<name>`, a `Distributed` table over them that spreads rows by the
table's sharding key (a hash of the device id, so a device's chain lives on one shard). Every query and
insert names `<name>`, on one node and on a cluster alike. Tables without a sharding key (reference data:
devices, schema_migrations) are not sharded: one replicated copy on every server, under one Keeper path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

# Insert dedup tokens do nothing on non-replicated tables unless this window is set (chDB included).
DEDUP_WINDOW = 10_000
# Replicated tables keep their dedup log in Keeper: the newest DEDUP_WINDOW blocks younger than this.
# A shipper retries a batch within minutes (back-off caps at 30 s; a restarted node re-ships its pending
# range first), so a week is far more than needed; the block count is what bounds it (ops/README.md).
REPLICATED_DEDUP_WINDOW_S = 7 * 24 * 3600


@dataclass(frozen=True)
class TableEngine:
    """What a table is, independent of where it runs: family, keys and settings."""

    order_by: Sequence[str]
    partition_by: str | None = None
    replacing_version: str | None = None  # set: ReplacingMergeTree(version); None: MergeTree
    # How rows spread over shards on a cluster; None: not sharded, a full copy on every server (small
    # reference tables). Unused on one node.
    sharding_key: str | None = None
    settings: Mapping[str, str | int] = field(default_factory=dict)

    @property
    def family(self) -> str:
        """MergeTree or ReplacingMergeTree."""
        return "ReplacingMergeTree" if self.replacing_version else "MergeTree"

    def engine_clause(self, replication: tuple[str, str] | None = None) -> str:
        """The ENGINE … SETTINGS clause; replication = (Keeper path, replica name) makes it Replicated*."""
        if replication is None:
            name = self.family
            args = [self.replacing_version] if self.replacing_version else []
            merged: dict[str, str | int] = {"non_replicated_deduplication_window": DEDUP_WINDOW}
        else:
            name = "Replicated" + self.family
            args = [_quote(replication[0]), _quote(replication[1])]
            args += [self.replacing_version] if self.replacing_version else []
            merged = {
                "replicated_deduplication_window": DEDUP_WINDOW,
                "replicated_deduplication_window_seconds": REPLICATED_DEDUP_WINDOW_S,
            }
        merged.update(self.settings)
        parts = [f"ENGINE = {name}({', '.join(args)})"]
        if self.partition_by:
            parts.append(f"PARTITION BY {self.partition_by}")
        parts.append(f"ORDER BY ({', '.join(self.order_by)})")
        parts.append("SETTINGS " + ", ".join(f"{k} = {v}" for k, v in merged.items()))
        return "\n".join(parts)


def _quote(text: str) -> str:
    """A ClickHouse string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _create(database: str, name: str, on_cluster: str, columns: str, engine_clause: str) -> str:
    head = f"CREATE TABLE IF NOT EXISTS {database}.{name}{on_cluster}"
    body = "\n".join("    " + line.strip() for line in columns.strip().splitlines())
    return f"{head}\n(\n{body}\n)\n{engine_clause}"


@dataclass(frozen=True)
class SingleNode:
    """One ClickHouse (chDB or a server): each table is created as-is."""

    def create_table(self, database: str, name: str, columns: str, engine: TableEngine) -> list[str]:
        """CREATE statements (idempotent) for one table."""
        return [_create(database, name, "", columns, engine.engine_clause())]

    def create_database(self, database: str) -> str:
        """CREATE DATABASE statement (idempotent)."""
        return f"CREATE DATABASE IF NOT EXISTS {database}"

    @property
    def on_cluster(self) -> str:
        """The ON CLUSTER clause for hand-written DDL: none on one node."""
        return ""


@dataclass(frozen=True)
class Cluster:
    """A ClickHouse cluster (remote_servers name, Keeper, {shard}/{replica} macros on every server).

    DDL runs `ON CLUSTER`: one statement, queued in Keeper, executed by every server, so the schema
    cannot drift between servers and a server that was down catches up when it returns.
    """

    name: str
    # {shard} and {replica} are each server's macros; ClickHouse fills {database} and {table} itself.
    keeper_path: str = "/clickhouse/tables/{shard}/{database}/{table}"
    # Unsharded tables: one path for all servers, so every server holds every row (replica names must
    # then be unique across the cluster, as ops/clickhouse/macros/ makes them).
    unsharded_keeper_path: str = "/clickhouse/tables/all/{database}/{table}"
    replica: str = "{replica}"

    @property
    def on_cluster(self) -> str:
        """The ON CLUSTER clause (with its leading space) for hand-written DDL."""
        return f" ON CLUSTER {self.name}"

    def create_database(self, database: str) -> str:
        """CREATE DATABASE on every server (idempotent)."""
        return f"CREATE DATABASE IF NOT EXISTS {database}{self.on_cluster}"

    def create_table(self, database: str, name: str, columns: str, engine: TableEngine) -> list[str]:
        """A replicated local table and the Distributed table over it (or one replicated unsharded table)."""
        if engine.sharding_key is None:
            clause = engine.engine_clause((self.unsharded_keeper_path, self.replica))
            return [_create(database, name, self.on_cluster, columns, clause)]
        local = f"{name}_local"
        distributed = (
            f"ENGINE = Distributed({_quote(self.name)}, {_quote(database)}, {_quote(local)}, "
            f"{engine.sharding_key})"
        )
        replicated = engine.engine_clause((self.keeper_path, self.replica))
        return [
            _create(database, local, self.on_cluster, columns, replicated),
            _create(database, name, self.on_cluster, columns, distributed),
        ]


Topology = SingleNode | Cluster
SINGLE_NODE = SingleNode()


def topology_for(cluster: str) -> Topology:
    """The topology a cluster name selects: empty means one node."""
    return Cluster(cluster) if cluster else SINGLE_NODE

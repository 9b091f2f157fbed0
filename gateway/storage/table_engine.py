"""One table definition renders the DDL for a topology: plain MergeTree on one node (Replicated later)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

# Insert dedup tokens do nothing on non-replicated tables unless this window is set (chDB included).
DEDUP_WINDOW = 10_000


@dataclass(frozen=True)
class TableEngine:
    """What a table is, independent of where it runs: family, keys and settings."""

    order_by: Sequence[str]
    partition_by: str | None = None
    replacing_version: str | None = None  # set: ReplacingMergeTree(version); None: MergeTree
    # How rows spread over shards on a cluster (a device's chain stays on one shard); unused on one node.
    sharding_key: str = "rand()"
    settings: Mapping[str, str | int] = field(default_factory=dict)

    @property
    def family(self) -> str:
        """MergeTree or ReplacingMergeTree."""
        return "ReplacingMergeTree" if self.replacing_version else "MergeTree"

    def engine_clause(self) -> str:
        """The ENGINE … SETTINGS clause for a single node."""
        args = self.replacing_version or ""
        parts = [f"ENGINE = {self.family}({args})"]
        if self.partition_by:
            parts.append(f"PARTITION BY {self.partition_by}")
        parts.append(f"ORDER BY ({', '.join(self.order_by)})")
        merged: dict[str, str | int] = {"non_replicated_deduplication_window": DEDUP_WINDOW}
        merged.update(self.settings)
        parts.append("SETTINGS " + ", ".join(f"{k} = {v}" for k, v in merged.items()))
        return "\n".join(parts)


@dataclass(frozen=True)
class SingleNode:
    """One ClickHouse (chDB or a server): each table is created as-is."""

    def create_table(self, database: str, name: str, columns: str, engine: TableEngine) -> list[str]:
        """CREATE statements (idempotent) for one table."""
        body = columns.strip()
        return [f"CREATE TABLE IF NOT EXISTS {database}.{name}\n(\n{body}\n)\n{engine.engine_clause()}"]

    def create_database(self, database: str) -> str:
        """CREATE DATABASE statement (idempotent)."""
        return f"CREATE DATABASE IF NOT EXISTS {database}"


# A cluster topology (ON CLUSTER, Replicated* local tables and a Distributed table over them keyed by
# engine.sharding_key) is another class with these two methods; migrations never change for it.
Topology = SingleNode
SINGLE_NODE = SingleNode()

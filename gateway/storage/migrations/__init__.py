"""Forward-only numbered migrations; which ones ran is kept in ClickHouse itself (schema_migrations)."""

from __future__ import annotations

import importlib
import pkgutil
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from gateway.storage.table_engine import SINGLE_NODE, TableEngine, Topology

_MODULE_RE = re.compile(r"^(\d{4})_\w+$")


@dataclass(frozen=True)
class MigrationContext:
    """What a migration builds its statements from; the topology decides how tables are rendered."""

    database: str
    topology: Topology

    def create_table(self, name: str, columns: str, engine: TableEngine) -> list[str]:
        """Statements creating one table on this topology."""
        return self.topology.create_table(self.database, name, columns, engine)

    @property
    def on_cluster(self) -> str:
        """" ON CLUSTER <name>" on a cluster, "" on one node: for hand-written DDL (views, ALTERs)."""
        return self.topology.on_cluster

    def durable(self, *tables: str) -> list[str]:
        """On one node, the ALTERs making these MergeTree tables fsync the parts they write (migration 0008
        says why; every migration that creates a table calls this, and tests/storage/test_migrations.py
        checks that none forgot). A cluster keeps its replicas' copies instead: nothing."""
        if self.on_cluster:
            return []
        return [f"ALTER TABLE {self.database}.{table} MODIFY SETTING {DURABLE_PARTS}" for table in tables]


@dataclass(frozen=True)
class Migration:
    """One numbered step: its id (module name), a description and its statements."""

    id: str
    description: str
    statements: Callable[[MigrationContext], list[str]]


def frozen_statements(name: str, database: str) -> list[str]:
    """The statements of a migration kept as fixed SQL text in <name>.sql beside it (released history,
    never rendered from live code): separated by lines holding only ";", {database} for the database."""
    text = (Path(__file__).parent / f"{name}.sql").read_text()
    body = "".join(line + "\n" for line in text.splitlines() if not line.startswith("-- "))
    return [part.strip().replace("{database}", database) for part in body.split("\n;\n") if part.strip()]


def _load(module: ModuleType, name: str) -> Migration:
    return Migration(name, str(module.DESCRIPTION), module.statements)


def all_migrations() -> list[Migration]:
    """Every migration of this package, in order."""
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if _MODULE_RE.match(m.name))
    return [_load(importlib.import_module(f"{__name__}.{name}"), name) for name in names]


# ClickHouse writes a part's files without fsync by default, so a power cut or kernel crash within the
# page cache's writeback window loses rows whose insert was confirmed, after which the shipper had
# advanced and the journal had let them go. With these, an insert returns once its part's files and
# directory are on disk, and a merge's or mutation's new part is too before the parts it replaces are
# removed (ClickHouse fsyncs a merged part of at least this many rows). Cost: docs/performance.md.
DURABLE_PARTS = "fsync_after_insert = 1, fsync_part_directory = 1, min_rows_to_fsync_after_merge = 1"


def _status_table(ctx: MigrationContext) -> list[str]:
    statements = ctx.create_table(
        "schema_migrations",
        """
    id String,
    description String,
    applied_at DateTime64(3, 'UTC')
""",
        TableEngine(order_by=["id"], replacing_version="applied_at"),
    )
    # Its rows must survive a power cut like any other: a lost row only makes its idempotent migration run
    # again, but every start after such a cut would find broken parts. Set at every start (idempotent).
    return [*statements, *ctx.durable("schema_migrations")]


def applied_migrations(client: Any, database: str) -> set[str]:
    """Ids of the migrations already applied."""
    rows = client.query(f"SELECT DISTINCT id FROM {database}.schema_migrations").result_rows
    return {str(row[0]) for row in rows}


def pending_migrations(client: Any, database: str) -> list[str]:
    """Ids of the migrations not applied yet (the status table must exist)."""
    done = applied_migrations(client, database)
    return [m.id for m in all_migrations() if m.id not in done]


def render_schema(database: str, topology: Topology = SINGLE_NODE) -> list[str]:
    """Every statement apply_migrations would run on an empty database, in order (for review and goldens)."""
    ctx = MigrationContext(database, topology)
    out = [topology.create_database(database), *_status_table(ctx)]
    for migration in all_migrations():
        out.extend(migration.statements(ctx))
    return out


def render_schema_text(database: str, topology: Topology = SINGLE_NODE) -> str:
    """The schema as one SQL script (`tracegate migrate --print-ddl`; the golden files in tests/storage)."""
    return ";\n\n".join(render_schema(database, topology)) + ";\n"


def apply_migrations(client: Any, database: str, *, topology: Topology = SINGLE_NODE) -> list[str]:
    """Create the database if needed and apply every migration not applied yet; returns their ids."""
    ctx = MigrationContext(database, topology)
    client.command(topology.create_database(database))
    for statement in _status_table(ctx):
        client.command(statement)
    done = applied_migrations(client, database)
    applied: list[str] = []
    for migration in all_migrations():
        if migration.id in done:
            continue
        # Statements are idempotent (IF NOT EXISTS), so a crash mid-migration is repaired by running again.
        for statement in migration.statements(ctx):
            client.command(statement)
        client.insert(
            "schema_migrations",
            [[migration.id], [migration.description], [int(time.time() * 1000)]],
            column_names=["id", "description", "applied_at"],
            database=database,
            column_oriented=True,
        )
        applied.append(migration.id)
    return applied


class SchemaNotReady(RuntimeError):
    """The cluster's schema lacks migrations this gateway needs (run `tracegate migrate --cluster`)."""


def ensure_schema(client: Any, database: str, cluster: str = "") -> list[str]:
    """At gateway start: on one node apply what is pending; on a cluster only check, never change it.

    Cluster DDL (ON CLUSTER, Replicated paths) is the operator's step, as an account allowed to make it;
    the gateways' writer account may not, and several nodes starting at once must not race to do it.
    """
    if not cluster:
        return apply_migrations(client, database)
    try:
        pending = pending_migrations(client, database)
    except Exception as exc:
        raise SchemaNotReady(
            f"cannot read {database}.schema_migrations ({exc.__class__.__name__}): "
            f"run `tracegate migrate --cluster {cluster}` first"
        ) from exc
    if pending:
        raise SchemaNotReady(
            f"migrations not applied on cluster {cluster}: {', '.join(pending)}; "
            f"run `tracegate migrate --cluster {cluster}` first"
        )
    return []

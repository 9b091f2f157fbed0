"""On one node, every MergeTree table fsyncs the parts it writes: an acked event must survive a power cut."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.storage.migrations import MigrationContext

DESCRIPTION = "fsync_after_insert, fsync_part_directory, min_rows_to_fsync_after_merge (one node)"

# Every MergeTree table of migrations 0001-0007 (a table added later sets these in its own migration;
# tests/storage/test_migrations.py checks that every one does). Not schema_migrations: the status table
# is made before any migration, which sets them on it (migrations/__init__.py).
TABLES = (
    "events", "receipts", "receipt_lines", "shifts", "rejections", "anomalies", "devices", "code_registry",
    "code_events", "access_tokens", "audit_log", "receipt_buyers",
)
# ClickHouse writes a part's files without fsync by default, so a power cut or kernel crash within the
# page cache's writeback window loses rows whose insert was confirmed, after which the shipper had
# advanced and the journal had let them go. With these, an insert returns once its part's files and
# directory are on disk, and a merge's or mutation's new part is too before the parts it replaces are
# removed (ClickHouse fsyncs a merged part of at least this many rows). Cost: docs/performance.md.
DURABLE_SETTINGS = "fsync_after_insert = 1, fsync_part_directory = 1, min_rows_to_fsync_after_merge = 1"


def statements(ctx: MigrationContext) -> list[str]:
    """ALTER … MODIFY SETTING on one node; a cluster keeps its replicas' copies instead (and its own
    settings: a replica that lost a part fetches it from another)."""
    if ctx.on_cluster:
        return []
    return [f"ALTER TABLE {ctx.database}.{table} MODIFY SETTING {DURABLE_SETTINGS}" for table in TABLES]

"""On one node, every MergeTree table fsyncs the parts it writes: an acked event must survive a power cut
(migrations.DURABLE_PARTS says how)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.storage.migrations import MigrationContext

DESCRIPTION = "fsync_after_insert, fsync_part_directory, min_rows_to_fsync_after_merge (one node)"

# Every MergeTree table of migrations 0001-0007 (a table added later sets these in its own migration with
# ctx.durable; tests/storage/test_migrations.py checks that every one does). Not schema_migrations: the
# status table is made before any migration, which sets them on it (migrations/__init__.py).
TABLES = (
    "events", "receipts", "receipt_lines", "shifts", "rejections", "anomalies", "devices", "code_registry",
    "code_events", "access_tokens", "audit_log", "receipt_buyers",
)


def statements(ctx: MigrationContext) -> list[str]:
    """ALTER … MODIFY SETTING on one node; a cluster keeps its replicas' copies instead (and its own
    settings: a replica that lost a part fetches it from another)."""
    return ctx.durable(*TABLES)

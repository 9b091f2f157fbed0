"""events.event_sha256: the SHA-256 of the signed event bytes, kept however the bytes are (sealed, erased)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.storage.migrations import frozen_statements

if TYPE_CHECKING:
    from gateway.storage.migrations import MigrationContext

DESCRIPTION = "events.event_sha256; on one node journal_receipts and its views replaced to write it"

# Rows stored before read '': an audit export then carries their stored envelope hash (docs/export.md).
_COLUMN = "ADD COLUMN IF NOT EXISTS event_sha256 String DEFAULT ''"


def statements(ctx: MigrationContext) -> list[str]:
    """Add the column (on a cluster to events_local and events); on one node drop the views and the Null
    stage table and create them anew, as 0020_event_digests.sql says (migrations run before the shipper
    starts, so no insert falls between). A cluster has neither: its shipper builds every row in Python.
    """
    db, on_cluster = ctx.database, ctx.on_cluster
    tables = ["events_local", "events"] if on_cluster else ["events"]
    out = [f"ALTER TABLE {db}.{table}{on_cluster} {_COLUMN}" for table in tables]
    if on_cluster:
        return out
    return out + frozen_statements("0020_event_digests", db)

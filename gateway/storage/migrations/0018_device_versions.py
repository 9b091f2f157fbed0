"""device_versions: every version of every devices row, kept, so a device's key history outlives merges."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.storage.table_engine import TableEngine

if TYPE_CHECKING:
    from gateway.storage.migrations import MigrationContext

DESCRIPTION = "device_versions (every devices row version: registrations, rotations, revocations)"

# The columns of devices (0001) as they were then: fixed text, as a migration must be.
DEVICE_VERSIONS = """
    device_id String,
    seller_tin String,
    store_id String,
    public_key_pem String,
    key_id String,
    status LowCardinality(String),
    updated_ms Int64
"""
_NAMES = "device_id, seller_tin, store_id, public_key_pem, key_id, status, updated_ms"


def statements(ctx: MigrationContext) -> list[str]:
    """The table, a view that copies each insert into devices, and the versions devices still holds."""
    db = ctx.database
    # devices is a ReplacingMergeTree: merges keep only a device's newest row, and with it the key it was
    # first registered with. An audit export needs every key the device ever signed with (docs/export.md).
    # On a cluster devices is one replicated table on every server: an insert lands on one of them, whose
    # view writes one row into the replicated device_versions; replicas fetching parts trigger no view.
    out = ctx.create_table("device_versions", DEVICE_VERSIONS, TableEngine(["device_id", "updated_ms"]))
    out.append(
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.device_versions_mv{ctx.on_cluster} "
        f"TO {db}.device_versions AS SELECT {_NAMES} FROM {db}.devices"
    )
    # Versions from before this migration that no merge has removed yet; the guard makes a rerun (after a
    # crash mid-migration) add nothing the view or the first run wrote.
    out.append(
        f"INSERT INTO {db}.device_versions ({_NAMES}) SELECT {_NAMES} FROM {db}.devices "
        f"WHERE (device_id, updated_ms) NOT IN (SELECT device_id, updated_ms FROM {db}.device_versions)"
    )
    return out

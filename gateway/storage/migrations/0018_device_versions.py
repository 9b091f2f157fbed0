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
    """The table (save_device writes each version to it too), and the versions devices still holds."""
    db = ctx.database
    # devices is a ReplacingMergeTree: merges keep only a device's newest row, and with it the key it was
    # first registered with. An audit export needs every key the device ever signed with (docs/export.md).
    # Not a materialized view on devices: in chDB an insert that feeds a view renames the inserting
    # thread, which is the storage process's main thread.
    out = ctx.create_table("device_versions", DEVICE_VERSIONS, TableEngine(["device_id", "updated_ms"]))
    # Versions from before this migration that no merge has removed yet; the guard makes a rerun (after a
    # crash mid-migration) add nothing the first run wrote.
    out.append(
        f"INSERT INTO {db}.device_versions ({_NAMES}) SELECT {_NAMES} FROM {db}.devices "
        f"WHERE (device_id, updated_ms) NOT IN (SELECT device_id, updated_ms FROM {db}.device_versions)"
    )
    return out

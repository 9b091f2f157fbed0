"""The history of every device's keys: a key once revoked is refused for good (docs/security.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.storage.table_engine import TableEngine

if TYPE_CHECKING:
    from gateway.storage.migrations import MigrationContext

DESCRIPTION = "device_keys: every key of every device, and which were revoked"

# One row per report about a key (registered, rotated to, revoked), never collapsed: the devices table
# keeps only a device's newest version once merged, and a revocation must not go with the older ones.
DEVICE_KEYS = """
    device_id String,
    key_id String,
    public_key_pem String,
    revoked Bool,
    at_ms Int64
"""


def statements(ctx: MigrationContext) -> list[str]:
    """Create device_keys (reference data, a full copy on every server) and fill it from devices."""
    db = ctx.database
    out = ctx.create_table("device_keys", DEVICE_KEYS, TableEngine(["device_id", "key_id"]))
    out += ctx.durable("device_keys")
    # The versions of devices still on disk: merges may have dropped older ones, whose keys stay unknown
    # (a revoked device's current key is known revoked from its row in any case). Run again, it adds
    # the same rows, which change nothing.
    out.append(
        f"INSERT INTO {db}.device_keys (device_id, key_id, public_key_pem, revoked, at_ms) "
        f"SELECT device_id, key_id, public_key_pem, status = 'revoked', updated_ms FROM {db}.devices"
    )
    return out

"""device_revocations: the seq from which an operator declared a device's key compromised."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.storage.table_engine import TableEngine

if TYPE_CHECKING:
    from gateway.storage.migrations import MigrationContext

DESCRIPTION = "device_revocations (revoke --from-seq: the revoked devices version and its seq)"

# revoked_ms is the updated_ms of the devices version the revocation wrote, which ties the two together.
DEVICE_REVOCATIONS = """
    device_id String,
    seller_tin String,
    key_id String,
    from_seq UInt64,
    revoked_ms Int64,
    recorded_at DateTime64(3, 'UTC')
"""


def statements(ctx: MigrationContext) -> list[str]:
    """The table (reference data like devices: not sharded, a copy on every server)."""
    out = ctx.create_table("device_revocations", DEVICE_REVOCATIONS, TableEngine(["device_id", "revoked_ms"]))
    return out + ctx.durable("device_revocations")

"""The OFD front door: OFD registers in devices, how each event was authenticated, OFD document fields."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.storage.table_engine import TableEngine

if TYPE_CHECKING:
    from gateway.storage.migrations import MigrationContext

DESCRIPTION = (
    "devices.protocol/ofd_*/kgd_number, events.authentication/evidence, receipts and receipt_lines OFD "
    "fields, ofd_exchanges"
)

# One row per exchange with an OFD register; the newest (number) of each register is what a gateway
# restores at start. `sealed` holds the exchange under the OFD key: it carries the register's token.
OFD_EXCHANGES = """
    ofd_id UInt32,
    device_id String,
    seller_tin String,
    number UInt64,
    answered_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD),
    command UInt8,
    sealed String CODEC(ZSTD),
    gateway_id LowCardinality(String)
"""

_COLUMNS = {
    "devices": [
        "protocol LowCardinality(String) DEFAULT 'tracegate'",  # or 'ofd'
        "ofd_id UInt32 DEFAULT 0",
        "kgd_number String DEFAULT ''",
        "ofd_token_mac String DEFAULT ''",  # a keyed MAC of the first token, never the token
        "ofd_key_epoch UInt32 DEFAULT 0",  # which of the register's gateway-held keys is current
    ],
    "events": [
        # device_signature: the device signed it; ofd_token: an OFD register's ID and TOKEN, the gateway
        # made and signed the event for it.
        "authentication LowCardinality(String) DEFAULT 'device_signature'",
        "evidence String DEFAULT '' CODEC(ZSTD)",  # the OFD request frame, stored as the event bytes are
    ],
    "receipts": [
        "discount Int64 DEFAULT 0",
        "markup Int64 DEFAULT 0",
        "offline Bool DEFAULT false",
        "offline_number UInt32 DEFAULT 0",
        "parent_register_number String DEFAULT ''",
    ],
    "receipt_lines": [
        "storno Bool DEFAULT false",
        "section_code LowCardinality(String) DEFAULT ''",
        "ntin String DEFAULT ''",
        "physical_label String DEFAULT ''",
        "product_id String DEFAULT ''",
        "unit LowCardinality(String) DEFAULT ''",
    ],
}
_UNSHARDED = {"devices"}  # one replicated table on every server: no _local table under it


def statements(ctx: MigrationContext) -> list[str]:
    """Add the columns (rows from before read their defaults) and create ofd_exchanges."""
    out: list[str] = []
    on_cluster = ctx.on_cluster
    for table, columns in _COLUMNS.items():
        names = [f"{table}_local", table] if on_cluster and table not in _UNSHARDED else [table]
        for name in names:
            out.extend(
                f"ALTER TABLE {ctx.database}.{name}{on_cluster} ADD COLUMN IF NOT EXISTS {column}"
                for column in columns
            )
    out += ctx.create_table(
        "ofd_exchanges",
        OFD_EXCHANGES,
        TableEngine(["ofd_id"], replacing_version="number", sharding_key="cityHash64(device_id)"),
    )
    return out + ctx.durable("ofd_exchanges")

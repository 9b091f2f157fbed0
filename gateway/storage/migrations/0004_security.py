"""Security: the append-only audit log, sealed buyer data with a consent TTL, AI labels, event protection."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.storage.table_engine import TableEngine

if TYPE_CHECKING:
    from gateway.storage.migrations import MigrationContext

DESCRIPTION = (
    "audit_log, receipt_buyers (TTL by consent), receipt_lines.ai_label/ai_source, events.protection"
)

AUDIT_LOG = """
    at DateTime64(3, 'UTC') CODEC(Delta, ZSTD),
    principal String,
    action LowCardinality(String),
    target String,
    detail String,
    remote String,
    gateway_id LowCardinality(String)
"""

# Contacts are AES-GCM ciphertexts under a per-receipt key that is itself wrapped under the operator's
# PII key (gateway/security/buyer_data.py); *_hash are keyed hashes for lookups, never plain hashes.
RECEIPT_BUYERS = """
    seller_tin String,
    device_id String,
    seq UInt64,
    event_time DateTime64(3, 'UTC'),
    consent_purpose String,
    consent_expires_at DateTime64(3, 'UTC'),
    key_id LowCardinality(String),
    wrapped_key String,
    email String,
    phone String,
    iin String,
    email_hash String,
    phone_hash String,
    iin_hash String
"""


def _alter(ctx: MigrationContext, table: str, clause: str) -> list[str]:
    """ALTER a table (on a cluster: the local replicated table and the Distributed one over it)."""
    on_cluster = str(getattr(ctx, "on_cluster", ""))
    names = [f"{table}_local", table] if on_cluster else [table]
    return [f"ALTER TABLE {ctx.database}.{name}{on_cluster} {clause}" for name in names]


def statements(ctx: MigrationContext) -> list[str]:
    """Create the audit and buyer tables, add the label and protection columns, the masking view."""
    db = ctx.database
    out = ctx.create_table("audit_log", AUDIT_LOG, TableEngine(["at", "action"], "toYYYYMM(at)"))
    out += ctx.create_table(
        "receipt_buyers",
        RECEIPT_BUYERS,
        TableEngine(
            ["seller_tin", "device_id", "seq"], "toYYYYMM(event_time)", sharding_key="cityHash64(device_id)"
        ),
    )
    # Expired consent: the row (and with it the key of the sealed event bytes) goes at the next merge.
    on_cluster = str(getattr(ctx, "on_cluster", ""))
    local = "receipt_buyers_local" if on_cluster else "receipt_buyers"
    out.append(f"ALTER TABLE {db}.{local}{on_cluster} MODIFY TTL toDateTime(consent_expires_at) DELETE")
    out += _alter(ctx, "receipt_lines", "ADD COLUMN IF NOT EXISTS ai_label String")
    out += _alter(ctx, "receipt_lines", "ADD COLUMN IF NOT EXISTS ai_source LowCardinality(String)")
    # "" clear, "sealed" encrypted under the receipt_buyers key, "erased" not kept (no consent / forgotten).
    out += _alter(ctx, "events", "ADD COLUMN IF NOT EXISTS protection LowCardinality(String)")
    # Until the TTL merge runs, expired rows are still on disk: readers use this view, which hides them.
    out.append(
        f"CREATE VIEW IF NOT EXISTS {db}.receipt_buyers_live{on_cluster} AS "
        f"SELECT * FROM {db}.receipt_buyers WHERE consent_expires_at > now64(3)"
    )
    return out

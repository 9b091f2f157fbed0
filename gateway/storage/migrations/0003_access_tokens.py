"""Access tokens: only a SHA-256 of each token is stored, with its scope, TIN, expiry and revocation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.storage.table_engine import TableEngine

if TYPE_CHECKING:
    from gateway.storage.migrations import MigrationContext

DESCRIPTION = "access_tokens (hashes only; scope admin|analyst|retailer)"

ACCESS_TOKENS = """
    token_id String,
    token_hash FixedString(64),
    scope LowCardinality(String),
    seller_tin String,
    label String,
    created DateTime64(3, 'UTC'),
    expires Nullable(DateTime64(3, 'UTC')),
    revoked Bool,
    updated_ms Int64
"""


def statements(ctx: MigrationContext) -> list[str]:
    """CREATE TABLE access_tokens (a revocation is a newer version of the same row)."""
    return ctx.create_table(
        "access_tokens", ACCESS_TOKENS, TableEngine(["token_id"], replacing_version="updated_ms")
    )

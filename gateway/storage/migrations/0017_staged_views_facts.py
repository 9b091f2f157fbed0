"""The stage table of accepted receipts and its views again: OFD's fields (0013) and findings' facts (0015)
together."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.storage.migrations import frozen_statements

if TYPE_CHECKING:
    from gateway.storage.migrations import MigrationContext

DESCRIPTION = "journal_receipts and its views replaced: findings with other_seller_tin, other_store_id, facts"


def statements(ctx: MigrationContext) -> list[str]:
    """On one node: drop the views and the Null stage table (it keeps nothing) and create them anew, as
    0017_staged_views_facts.sql says. Migrations run before the shipper starts, so no insert falls between.

    Migrations 0013 and 0015 were made side by side; this one makes their sum the stage's definition. A
    cluster has neither: its shipper builds every row in Python.
    """
    if ctx.on_cluster:
        return []
    return frozen_statements("0017_staged_views_facts", ctx.database)

"""The stage table of accepted receipts and its views again, rendered from the one definition of columns."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.storage.migrations import frozen_statements

if TYPE_CHECKING:
    from gateway.storage.migrations import MigrationContext

DESCRIPTION = "journal_receipts and its views replaced: rendered from storage/columns.py (same rows)"


def statements(ctx: MigrationContext) -> list[str]:
    """On one node: drop the views and the Null stage table (it keeps nothing) and create them anew, as
    0019_staged_views_from_columns.sql says. Migrations run before the shipper starts, so no insert falls
    between. A cluster has neither: its shipper builds every row in Python.
    """
    if ctx.on_cluster:
        return []
    return frozen_statements("0019_staged_views_from_columns", ctx.database)

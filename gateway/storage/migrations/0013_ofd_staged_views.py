"""The stage table of accepted receipts and its views again, with the OFD fields (migration 0012)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.storage.migrations import frozen_statements

if TYPE_CHECKING:
    from gateway.storage.migrations import MigrationContext

DESCRIPTION = "journal_receipts and its views replaced: storno, adjustments, OFD fields, authentication"


def statements(ctx: MigrationContext) -> list[str]:
    """On one node: drop the views and the Null stage table (it keeps nothing) and create them anew, as
    0013_ofd_staged_views.sql says. Migrations run before the shipper starts, so no insert falls between.

    A cluster has neither: its shipper builds every row in Python.
    """
    if ctx.on_cluster:
        return []
    return frozen_statements("0013_ofd_staged_views", ctx.database)

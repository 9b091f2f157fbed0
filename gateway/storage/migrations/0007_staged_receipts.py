"""The stage table of accepted receipts and the views that write their rows (storage/staged_rows.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.storage.migrations import frozen_statements

if TYPE_CHECKING:
    from gateway.storage.migrations import MigrationContext

DESCRIPTION = "journal_receipts (Null), views into events, receipts, receipt_lines, code_events, anomalies"


def statements(ctx: MigrationContext) -> list[str]:
    """On one node: a Null table that keeps nothing, and the materialized views fed by its inserts (their
    SQL as released, 0007_staged_receipts.sql; 0013 replaces them).

    A cluster gets neither: its shipper builds every row in Python (staged_rows.py says why).
    """
    if ctx.on_cluster:
        return []
    return frozen_statements("0007_staged_receipts", ctx.database)

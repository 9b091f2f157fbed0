"""The stage table of accepted receipts and the views that write their rows (storage/staged_rows.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.storage.staged_rows import STAGE_COLUMNS, STAGE_TABLE, view_statements

if TYPE_CHECKING:
    from gateway.storage.migrations import MigrationContext

DESCRIPTION = "journal_receipts (Null), views into events, receipts, receipt_lines, code_events, anomalies"


def statements(ctx: MigrationContext) -> list[str]:
    """On one node: a Null table that keeps nothing, and the materialized views fed by its inserts.

    A cluster gets neither: its shipper builds every row in Python (staged_rows.py says why).
    """
    if ctx.on_cluster:
        return []
    body = "\n".join("    " + line.strip() for line in STAGE_COLUMNS.strip().splitlines())
    stage = f"CREATE TABLE IF NOT EXISTS {ctx.database}.{STAGE_TABLE}\n(\n{body}\n)\nENGINE = Null"
    return [stage, *view_statements(ctx.database)]

"""Anomaly case work: who took an incident, resolved it or wrote a note, and when (append-only)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.storage.table_engine import TableEngine

if TYPE_CHECKING:
    from gateway.storage.migrations import MigrationContext

DESCRIPTION = "anomaly_case_actions (assign, unassign, resolve, reopen, note; who and when)"

ANOMALY_CASE_ACTIONS = """
    incident_id String,
    seller_tin String,
    action LowCardinality(String),
    assignee String,
    note String,
    actor String,
    actor_label String,
    at DateTime64(3, 'UTC')
"""


def statements(ctx: MigrationContext) -> list[str]:
    """CREATE TABLE anomaly_case_actions: a case's state is its latest actions, its history all of them.

    Not sharded (a full copy on every server): actions are few, and each node reads a case's whole story.
    """
    out = ctx.create_table("anomaly_case_actions", ANOMALY_CASE_ACTIONS, TableEngine(["incident_id", "at"]))
    return out + ctx.durable("anomaly_case_actions")

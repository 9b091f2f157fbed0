"""Anomalies name another seller in columns of their own, with plain facts: texts are written per reader."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.storage.migrations import MigrationContext

DESCRIPTION = (
    "anomalies.other_seller_tin/other_store_id/facts; anomaly_queue with them; on one node the stage "
    "table's findings and its anomalies view"
)

_COLUMNS = (
    "ADD COLUMN IF NOT EXISTS other_seller_tin String DEFAULT '', "
    "ADD COLUMN IF NOT EXISTS other_store_id LowCardinality(String) DEFAULT '', "
    "ADD COLUMN IF NOT EXISTS facts String DEFAULT ''"
)


def _anomaly_queue(db: str, on_cluster: str) -> str:
    # A shift that does not add up states its figures as facts (the sentence is written per reader and
    # language at query time); detail keeps the English sentence of migration 0005 for SQL users.
    return f"""CREATE VIEW IF NOT EXISTS {db}.anomaly_queue{on_cluster} AS
SELECT kind, detected_at, event_time, seller_tin, store_id, device_id, seq, line, cis, detail,
    other_seller_tin, other_store_id, facts
FROM {db}.anomalies
UNION ALL
SELECT 'shift_receipts_mismatch' AS kind, received_at AS detected_at, closed_at AS event_time, seller_tin,
    store_id, device_id, seq, toInt32(0) AS line, '' AS cis,
    concat('shift ', toString(shift_number), ': Z-report ', toString(z_receipt_count), ' receipts, ',
        toString(z_sell_sum), ' sold; stored receipts ', toString(receipts_count), ', ',
        toString(receipts_sell_sum), ' sold') AS detail,
    '' AS other_seller_tin, '' AS other_store_id,
    toJSONString(map('shift_number', toString(shift_number), 'z_receipt_count', toString(z_receipt_count),
        'receipts_count', toString(receipts_count), 'z_sell_sum', toString(z_sell_sum),
        'receipts_sell_sum', toString(receipts_sell_sum))) AS facts
FROM {db}.shift_reconciliation
WHERE mismatch"""


# The view of migration 0007 that writes receipts' anomalies, now with the three columns (fixed text: a
# migration is history, whatever staged_rows.py renders later).
_CLAMPED = "fromUnixTimestamp64Milli(least(greatest({ms}, 0), 4102444800000), 'UTC')"
_STAGED_ANOMALIES = """CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.journal_receipts_to_anomalies
TO {db}.anomalies AS
SELECT seller_tin, store_id, envelope_device_id AS device_id, envelope_seq AS seq,
    {event_time} AS event_time, finding.kind AS kind, {received} AS detected_at,
    true AS accepted, finding.line AS line, finding.cis AS cis, finding.detail AS detail,
    finding.other_seller_tin AS other_seller_tin, finding.other_store_id AS other_store_id,
    finding.facts AS facts
FROM {db}.journal_receipts
ARRAY JOIN findings AS finding"""


def statements(ctx: MigrationContext) -> list[str]:
    """Add the columns (rows from before: ''), replace the queue view; on one node re-create the view."""
    db, on_cluster = ctx.database, ctx.on_cluster
    tables = ["anomalies_local", "anomalies"] if on_cluster else ["anomalies"]
    out = [f"ALTER TABLE {db}.{table}{on_cluster} {_COLUMNS}" for table in tables]
    # DROP then CREATE, not CREATE OR REPLACE: chDB replaces a view by renaming its metadata file with
    # RENAME_EXCHANGE, which not every filesystem offers (the power-cut test's FUSE one does not).
    out.append(f"DROP VIEW IF EXISTS {db}.anomaly_queue{on_cluster}")
    out.append(_anomaly_queue(db, on_cluster))
    if not on_cluster:  # a cluster has no stage table (migration 0007)
        out += [
            f"ALTER TABLE {db}.journal_receipts MODIFY COLUMN findings Array(Tuple(kind String, line Int32,"
            " detail String, cis String, other_seller_tin String, other_store_id String, facts String))",
            f"DROP VIEW IF EXISTS {db}.journal_receipts_to_anomalies",
            _STAGED_ANOMALIES.format(
                db=db, event_time=_CLAMPED.format(ms="envelope_event_time_ms"),
                received=_CLAMPED.format(ms="received_ms"),
            ),
        ]
    return out

"""Analyst views: shift reconciliation (Z-report vs its receipts) and the anomaly queue analysts work."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.storage.migrations import MigrationContext

DESCRIPTION = "views shift_reconciliation and anomaly_queue"

_OPS = ("SELL", "SELL_RETURN", "BUY", "BUY_RETURN")

# Receipt payments as the Z-report counts them: per "OPERATION:TYPE", cash net of change, zeros dropped.
_RECEIPT_PAYMENTS = (
    "mapFilter((k, v) -> v != 0, sumMap(map("
    "operation || ':CASH', cash - change, operation || ':CARD', card, operation || ':CREDIT', credit, "
    "operation || ':TARE', tare, operation || ':MOBILE', mobile)))"
)


def _shift_reconciliation(db: str, on_cluster: str) -> str:
    op_z = ",\n    ".join(
        f"s.{op.lower()}_count AS z_{op.lower()}_count, r.{op.lower()}_count AS receipts_{op.lower()}_count, "
        f"s.{op.lower()}_sum AS z_{op.lower()}_sum, r.{op.lower()}_sum AS receipts_{op.lower()}_sum"
        for op in _OPS
    )
    op_r = ",\n        ".join(
        f"countIf(operation = '{op}') AS {op.lower()}_count, "
        f"sumIf(total, operation = '{op}') AS {op.lower()}_sum"
        for op in _OPS
    )
    differs = " OR ".join(
        f"s.{op.lower()}_count != r.{op.lower()}_count OR s.{op.lower()}_sum != r.{op.lower()}_sum"
        for op in _OPS
    )
    return f"""CREATE VIEW IF NOT EXISTS {db}.shift_reconciliation{on_cluster} AS
SELECT
    s.seller_tin AS seller_tin, s.store_id AS store_id, s.device_id AS device_id,
    s.shift_number AS shift_number, s.seq AS seq, s.closed_at AS closed_at, s.received_at AS received_at,
    s.receipt_count AS z_receipt_count, r.receipt_count AS receipts_count,
    {op_z},
    mapSort(mapFilter((k, v) -> v != 0, s.payments)) AS z_payments,
    mapSort(r.payments) AS receipts_payments,
    s.first_document_number AS first_document_number, s.last_document_number AS last_document_number,
    r.documents AS documents,
    (s.receipt_count != r.receipt_count OR {differs}
        OR mapSort(mapFilter((k, v) -> v != 0, s.payments)) != mapSort(r.payments)) AS mismatch
FROM {db}.shifts AS s
LEFT JOIN (
    SELECT seller_tin, device_id, shift_number, count() AS receipt_count,
        {op_r},
        {_RECEIPT_PAYMENTS} AS payments,
        groupArray(document_number) AS documents
    FROM {db}.receipts
    GROUP BY seller_tin, device_id, shift_number
) AS r ON s.seller_tin = r.seller_tin AND s.device_id = r.device_id AND s.shift_number = r.shift_number"""


def _anomaly_queue(db: str, on_cluster: str) -> str:
    return f"""CREATE VIEW IF NOT EXISTS {db}.anomaly_queue{on_cluster} AS
SELECT kind, detected_at, event_time, seller_tin, store_id, device_id, seq, line, cis, detail
FROM {db}.anomalies
UNION ALL
SELECT 'shift_receipts_mismatch' AS kind, received_at AS detected_at, closed_at AS event_time, seller_tin,
    store_id, device_id, seq, toInt32(0) AS line, '' AS cis,
    concat('shift ', toString(shift_number), ': Z-report ', toString(z_receipt_count), ' receipts, ',
        toString(z_sell_sum), ' sold; stored receipts ', toString(receipts_count), ', ',
        toString(receipts_sell_sum), ' sold') AS detail
FROM {db}.shift_reconciliation
WHERE mismatch"""


def statements(ctx: MigrationContext) -> list[str]:
    """CREATE VIEW statements (plain views: always current, nothing to backfill)."""
    return [_shift_reconciliation(ctx.database, ctx.on_cluster), _anomaly_queue(ctx.database, ctx.on_cluster)]

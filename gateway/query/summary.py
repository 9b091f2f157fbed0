"""What the gateway stored, read back from ClickHouse: counts by kind, rejections, totals per retailer."""

from __future__ import annotations

from typing import Any

from gateway.storage.client import Storage


def _summary(client: Any, db: str) -> dict[str, Any]:
    def rows(sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in client.query(sql.format(db=db)).result_rows]

    events_by_kind = dict(rows("SELECT kind, count() FROM {db}.events GROUP BY kind ORDER BY kind"))
    # How each event was authenticated: its device's signature, or (OFD front door) the register's token.
    by_authentication = dict(rows(
        "SELECT authentication, count() FROM {db}.events GROUP BY authentication ORDER BY authentication"))
    distinct = rows("SELECT uniqExact(device_id, seq), count() FROM {db}.events")[0]
    rejections = dict(
        rows("SELECT error_code, count() FROM {db}.rejections GROUP BY error_code ORDER BY 2 DESC")
    )
    anomalies = dict(rows("SELECT kind, count() FROM {db}.anomalies GROUP BY kind ORDER BY 2 DESC"))
    receipts = rows("SELECT count(), sum(line_count) FROM {db}.receipts")[0]
    lines = rows("SELECT count() FROM {db}.receipt_lines")[0][0]
    per_seller = [
        {
            "seller_tin": tin,
            "receipts": int(n),
            "sales": int(sales),
            "returns": int(returns),
            "net": int(sales) - int(returns),
        }
        for tin, n, sales, returns in rows(
            "SELECT seller_tin, count(), sumIf(total, operation = 'SELL'),"
            " sumIf(total, operation = 'SELL_RETURN')"
            " FROM {db}.receipts GROUP BY seller_tin ORDER BY seller_tin"
        )
    ]
    return {
        "events_stored": int(distinct[1]),
        "events_distinct": int(distinct[0]),
        "events_by_kind": {k: int(v) for k, v in events_by_kind.items()},
        "events_by_authentication": {k: int(v) for k, v in by_authentication.items()},
        "rejections_by_code": {k: int(v) for k, v in rejections.items()},
        "receipts": int(receipts[0]),
        "receipt_lines": int(lines),
        "receipt_lines_declared": int(receipts[1] or 0),
        "per_seller": per_seller,
        "anomalies_by_kind": {k: int(v) for k, v in anomalies.items()},
    }


async def ingest_summary(storage: Storage) -> dict[str, Any]:
    """The demo's summary, computed on the storage thread."""
    return await storage.run(lambda c: _summary(c, storage.database))


"""Dashboard figures: receipts and marked items per hour, anomalies by kind, top sellers, ingest health."""

from __future__ import annotations

import time
from typing import Any

from gateway import errors
from gateway.auth.tokens import Principal
from gateway.errors import GatewayError
from gateway.query.anomalies import HAPPENED, INCIDENT
from gateway.query.local_time import TZ_LABEL
from gateway.query.scoping import scope_for

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
LOCAL_OFFSET_MS = 5 * HOUR_MS  # buckets of a day start at local midnight (gateway/query/local_time.py)
MAX_RANGE_MS = 400 * DAY_MS
HOURLY_UP_TO_MS = 4 * DAY_MS  # longer ranges are drawn by day
REJECTING_SELLERS = 5  # the sellers named under each rejection code, most rejected first


def _range(since_ms: int | None, until_ms: int | None) -> tuple[int, int]:
    """The range asked for (default: the last 24 h); an impossible or too long one is an error."""
    until = until_ms if until_ms is not None else (int(time.time() * 1000) // HOUR_MS + 1) * HOUR_MS
    since = since_ms if since_ms is not None else until - 24 * HOUR_MS
    if since >= until:
        raise GatewayError(errors.MALFORMED_REQUEST, key="error.until_before_since")
    if until - since > MAX_RANGE_MS:
        days = MAX_RANGE_MS // DAY_MS
        raise GatewayError(errors.MALFORMED_REQUEST, key="error.range_too_long", params={"days": days})
    return since, until


def dashboard(
    client: Any,
    db: str,
    principal: Principal,
    *,
    tin: str | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> dict[str, Any]:
    """Every figure of the dashboard for a time range (default: the last 24 hours), in this scope."""
    since, until = _range(since_ms, until_ms)
    scope_sql, params = scope_for(principal, tin).where()
    params.update({"since": since, "until": until})
    in_range = (
        "{col} >= fromUnixTimestamp64Milli({{since:Int64}})"
        " AND {col} < fromUnixTimestamp64Milli({{until:Int64}}) AND "
        + scope_sql.replace("{", "{{").replace("}", "}}")  # the scope's own placeholder survives .format
    )

    def rows(sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in client.query(sql, parameters=params).result_rows]

    bucket = HOUR_MS if until - since <= HOURLY_UP_TO_MS else DAY_MS
    offset = 0 if bucket == HOUR_MS else LOCAL_OFFSET_MS
    hourly = rows(
        f"SELECT intDiv(toUnixTimestamp64Milli(event_time) + {offset}, {bucket}) * {bucket} - {offset}"
        " AS hour, count(),"
        f" sum(marked_code_count), sum(total) FROM {db}.receipts WHERE {in_range.format(col='event_time')}"
        " GROUP BY hour ORDER BY hour"
    )
    # Incidents, as the queue these figures link to counts them, in the period the queue filters on.
    anomaly_where = in_range.format(col=HAPPENED)
    incidents = f"uniqExact({INCIDENT})"
    by_kind = rows(
        f"SELECT kind, {incidents} FROM {db}.anomaly_queue WHERE {anomaly_where}"
        " GROUP BY kind ORDER BY 2 DESC"
    )
    top_sellers = rows(
        f"SELECT seller_tin, {incidents} FROM {db}.anomaly_queue WHERE {anomaly_where} GROUP BY seller_tin"
        " ORDER BY 2 DESC, 1 LIMIT 10"
    )
    top_gtins = rows(
        f"SELECT substring(cis, 3, 14) AS gtin, {incidents} FROM {db}.anomaly_queue WHERE {anomaly_where}"
        " AND cis != '' GROUP BY gtin ORDER BY 2 DESC, 1 LIMIT 10"
    )
    # Delays of events that say when they happened: an event time of 0 (undecodable bytes, an erased
    # event) would be a delay of 57 years.
    delay = "toUnixTimestamp64Milli(received_at) - toUnixTimestamp64Milli(event_time)"
    timed = "toUnixTimestamp64Milli(event_time) > 0"
    events = rows(
        f"SELECT count(), uniqExact(device_id), quantileExactIf(0.5)({delay}, {timed}),"
        f" maxIf({delay}, {timed}), toUnixTimestamp64Milli(max(received_at)) FROM {db}.events"
        f" WHERE {in_range.format(col='received_at')}"
    )[0]
    rejections = rows(
        "SELECT error_code, sum(n), arraySlice(arrayReverseSort(s -> (s.2, s.1),"
        f" groupArrayIf((seller_tin, n), seller_tin != '')), 1, {REJECTING_SELLERS})"
        " FROM (SELECT error_code, seller_tin, count() AS n"
        f" FROM {db}.rejections WHERE {in_range.format(col='received_at')} GROUP BY error_code, seller_tin)"
        " GROUP BY error_code ORDER BY 2 DESC, 1"
    )
    buckets = {int(h): (int(n), int(m), int(t)) for h, n, m, t in hourly}
    first = (since + offset) // bucket * bucket - offset
    hours = [
        {
            "hour_ms": h,
            "receipts": buckets.get(h, (0, 0, 0))[0],
            "marked_items": buckets.get(h, (0, 0, 0))[1],
            "total": buckets.get(h, (0, 0, 0))[2],
        }
        for h in range(first, until, bucket)
    ]
    return {
        "since_ms": since,
        "until_ms": until,
        "bucket_ms": bucket,
        "time_zone": TZ_LABEL,
        "seller_tin": scope_for(principal, tin).seller_tin,
        "hours": hours,
        "anomalies_by_kind": [{"kind": str(k), "count": int(n)} for k, n in by_kind],
        "top_sellers": [{"seller_tin": str(s), "anomalies": int(n)} for s, n in top_sellers],
        "top_gtins": [{"gtin": str(g), "anomalies": int(n)} for g, n in top_gtins],
        "ingest": {
            "events": int(events[0]),
            "devices": int(events[1]),
            "median_delay_ms": int(events[2] or 0) if events[0] else 0,
            "max_delay_ms": int(events[3] or 0) if events[0] else 0,
            "last_received_ms": int(events[4]) if events[0] else None,
            # Each code's sellers, most rejected first: a seller's day of shifts is where to look (an
            # unknown register has no seller).
            "rejections_by_code": [
                {"error_code": str(c), "count": int(n),
                 "sellers": [{"seller_tin": str(t), "count": int(k)} for t, k in sellers]}
                for c, n, sellers in rejections
            ],
        },
    }

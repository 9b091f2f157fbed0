"""The anomaly queue: filtered, keyset-paged (stable over millions of rows), exportable as CSV."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
from dataclasses import dataclass
from typing import Any

from gateway import errors
from gateway.auth.tokens import Principal
from gateway.errors import GatewayError
from gateway.query.scoping import scope_for

MAX_PAGE = 1000
CSV_COLUMNS = [
    "kind",
    "detected_at",
    "event_time",
    "seller_tin",
    "store_id",
    "device_id",
    "seq",
    "line",
    "cis",
    "detail",
]
# Newest first; the tuple is unique per anomaly row, so a cursor never skips or repeats one.
_ORDER_KEY = "toUnixTimestamp64Milli(detected_at), device_id, seq, line, kind, cis"
# What each integer of a cursor key may be (Int64, UInt64, Int32, as _ORDER_KEY's parameters are typed).
_CURSOR_INTS = {0: (-(2**63), 2**63), 2: (0, 2**64), 3: (-(2**31), 2**31)}
# The times a DateTime64(3) holds: a filter outside them would wrap around and filter nothing.
MIN_TIME_MS = -2_208_988_800_000  # 1900-01-01
MAX_TIME_MS = 10_413_792_000_000  # 2300-01-01


@dataclass(frozen=True)
class AnomalyFilter:
    """What an analyst narrows the queue to; every field optional."""

    kinds: tuple[str, ...] = ()
    seller_tin: str | None = None
    store_id: str | None = None
    device_id: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None


def parse_time(value: str | None) -> int | None:
    """ms since epoch from an ISO date/time (UTC if no zone) or a number of ms; None if empty."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        ms = int(text)
    else:
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise GatewayError(
                errors.MALFORMED_REQUEST, f"not a time: {text[:40]!r} (use 2026-01-15T09:00)"
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        ms = int(parsed.timestamp() * 1000)
    if not MIN_TIME_MS <= ms < MAX_TIME_MS:
        raise GatewayError(errors.MALFORMED_REQUEST, f"time {text[:40]!r} is out of range (1900 to 2299)")
    return ms


def encode_cursor(row: dict[str, Any]) -> str:
    """An opaque cursor pointing just after row."""
    key = [row["detected_ms"], row["device_id"], row["seq"], row["line"], row["kind"], row["cis"]]
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def decode_cursor(cursor: str) -> list[Any]:
    """The key a cursor points after (malformed_request if it is not one of ours)."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if (
            isinstance(key, list)
            and len(key) == 6
            # bool is an int to Python, not to ClickHouse
            and all(type(key[i]) is int and low <= key[i] < high for i, (low, high) in _CURSOR_INTS.items())
            and all(isinstance(key[i], str) for i in (1, 4, 5))
        ):
            return key
    except ValueError:
        pass
    raise GatewayError(errors.MALFORMED_REQUEST, "bad cursor")


def _where(principal: Principal, flt: AnomalyFilter) -> tuple[str, dict[str, Any]]:
    scope_sql, params = scope_for(principal, flt.seller_tin).where()
    parts = [scope_sql]
    if flt.kinds:
        parts.append("kind IN {kinds:Array(String)}")
        params["kinds"] = list(flt.kinds)
    for column, value in (("store_id", flt.store_id), ("device_id", flt.device_id)):
        if value:
            parts.append(f"{column} = {{{column}:String}}")
            params[column] = value
    if flt.since_ms is not None:
        parts.append("event_time >= fromUnixTimestamp64Milli({since:Int64})")
        params["since"] = flt.since_ms
    if flt.until_ms is not None:
        parts.append("event_time < fromUnixTimestamp64Milli({until:Int64})")
        params["until"] = flt.until_ms
    return " AND ".join(parts), params


def _row(r: tuple[Any, ...]) -> dict[str, Any]:
    kind, detected_ms, event_ms, tin, store, device, seq, line, cis, detail = r
    return {
        "kind": str(kind),
        "detected_ms": int(detected_ms),
        "event_ms": int(event_ms),
        "seller_tin": str(tin),
        "store_id": str(store),
        "device_id": str(device),
        "seq": int(seq),
        "line": int(line),
        "cis": str(cis),
        "detail": str(detail),
    }


def list_anomalies(
    client: Any,
    db: str,
    principal: Principal,
    flt: AnomalyFilter,
    *,
    limit: int = 100,
    cursor: str | None = None,
) -> dict[str, Any]:
    """One page of the queue, newest first: {"items": [...], "next_cursor": str|None}."""
    limit = max(1, min(limit, MAX_PAGE))
    where, params = _where(principal, flt)
    if cursor:
        where += (
            f" AND ({_ORDER_KEY}) < ({{c0:Int64}}, {{c1:String}}, {{c2:UInt64}}, {{c3:Int32}}, "
            "{c4:String}, {c5:String})"
        )
        params.update({f"c{i}": v for i, v in enumerate(decode_cursor(cursor))})
    sql = (
        "SELECT kind, toUnixTimestamp64Milli(detected_at), toUnixTimestamp64Milli(event_time), seller_tin,"
        f" store_id, device_id, seq, line, cis, detail FROM {db}.anomaly_queue WHERE {where}"
        f" ORDER BY {' DESC, '.join(_ORDER_KEY.split(', '))} DESC LIMIT {limit + 1}"
    )
    rows = [_row(tuple(r)) for r in client.query(sql, parameters=params).result_rows]
    items = rows[:limit]
    return {"items": items, "next_cursor": encode_cursor(items[-1]) if len(rows) > limit else None}


def count_by_kind(client: Any, db: str, principal: Principal, flt: AnomalyFilter) -> dict[str, int]:
    """How many anomalies of each kind match the filter (kind filter ignored, so every kind shows)."""
    where, params = _where(
        principal, AnomalyFilter((), flt.seller_tin, flt.store_id, flt.device_id, flt.since_ms, flt.until_ms)
    )
    sql = f"SELECT kind, count() FROM {db}.anomaly_queue WHERE {where} GROUP BY kind ORDER BY 2 DESC, 1"
    return {str(k): int(n) for k, n in client.query(sql, parameters=params).result_rows}


def _iso(ms: int) -> str:
    return (
        dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def csv_header() -> str:
    """The CSV export's header line."""
    return ",".join(CSV_COLUMNS) + "\r\n"


def csv_rows(items: list[dict[str, Any]]) -> str:
    """CSV text of a page of items (no header)."""
    out = io.StringIO()
    writer = csv.writer(out)
    for i in items:
        writer.writerow(
            [
                i["kind"],
                _iso(i["detected_ms"]),
                _iso(i["event_ms"]),
                i["seller_tin"],
                i["store_id"],
                i["device_id"],
                i["seq"],
                i["line"],
                i["cis"],
                i["detail"],
            ]
        )
    return out.getvalue()


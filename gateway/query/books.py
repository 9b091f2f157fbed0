"""Compare a retailer's own books (a CSV export) with the receipts we hold: matched, missing, differing."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
from dataclasses import dataclass
from typing import Any

from gateway import errors
from gateway.auth.tokens import Principal
from gateway.errors import GatewayError
from gateway.query.anomalies import parse_time
from gateway.query.scoping import require_tin
from gateway.storage.rows import MAX_TIME_MS

MAX_BOOK_ROWS = 200_000
BOOKS_COLUMNS = ("document_number", "device_id", "time", "total")
RESULT_COLUMNS = [
    "status",
    "device_id",
    "document_number",
    "our_time",
    "their_time",
    "our_total",
    "their_total",
    "difference",
]


@dataclass(frozen=True)
class BookEntry:
    """One line of the retailer's export: money in minor units, time in ms UTC."""

    document_number: int
    device_id: str
    time_ms: int
    total: int


MAX_AMOUNT = decimal.Decimal(2**63) / 100  # in tenge: the receipts' Int64 minor units


def parse_money(text: str) -> int:
    """Tenge with up to two decimals ('1234.50', '1 234,50', '-15') as exact minor units."""
    cleaned = text.strip().replace(" ", "").replace("\u00a0", "").replace(",", ".")
    try:
        value = decimal.Decimal(cleaned)
    except decimal.InvalidOperation:
        raise ValueError(f"total {text!r} is not an amount") from None
    if not value.is_finite() or abs(value) >= MAX_AMOUNT:
        raise ValueError(f"total {text[:40]!r} is not an amount of tenge")
    minor = value * 100
    if minor != minor.to_integral_value():
        raise ValueError(f"total {text!r} has more than two decimals")
    return int(minor)


def parse_books(text: str) -> list[BookEntry]:
    """Rows of a books CSV (header: document_number,device_id,time,total); errors name the line."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not set(BOOKS_COLUMNS) <= set(header):
        raise GatewayError(errors.MALFORMED_REQUEST, f"the CSV header must have {', '.join(BOOKS_COLUMNS)}")
    entries: list[BookEntry] = []
    for number, row in enumerate(reader, start=2):
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        if not any(row.values()):
            continue
        try:
            time_ms = parse_time(row["time"])
            if time_ms is None:
                raise ValueError("time is empty")
            if not 0 <= time_ms <= MAX_TIME_MS:  # what a receipt's time can be (rows.clamp_time)
                raise ValueError(f"time {row['time'][:40]!r} is not between 1970 and 2100")
            entries.append(
                BookEntry(int(row["document_number"]), row["device_id"], time_ms, parse_money(row["total"]))
            )
        except (ValueError, GatewayError) as exc:
            detail = exc.detail if isinstance(exc, GatewayError) else str(exc)
            raise GatewayError(errors.MALFORMED_REQUEST, f"line {number}: {detail}") from None
        if len(entries) > MAX_BOOK_ROWS:
            raise GatewayError(errors.MALFORMED_REQUEST, f"at most {MAX_BOOK_ROWS} rows per upload")
    if not entries:
        raise GatewayError(errors.MALFORMED_REQUEST, "the CSV has no rows")
    return entries


def _ours(client: Any, db: str, tin: str, days: list[str]) -> dict[tuple[str, int], tuple[int, int]]:
    rows = client.query(
        f"SELECT device_id, document_number, toUnixTimestamp64Milli(event_time), total FROM {db}.receipts"
        " WHERE seller_tin = {tin:String} AND toDate(event_time) IN {days:Array(Date)}",
        parameters={"tin": tin, "days": [dt.date.fromisoformat(d) for d in days]},
    ).result_rows
    return {(str(d), int(n)): (int(t), int(total)) for d, n, t, total in rows}


def _day(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).date().isoformat()


def compare_books(
    client: Any,
    db: str,
    principal: Principal,
    tin: str | None,
    books: list[BookEntry],
    day: dt.date | None = None,
) -> dict[str, Any]:
    """Match the books against our receipts of the days they cover (and `day`) by (device, document)."""
    seller = require_tin(principal, tin)
    days = sorted({_day(b.time_ms) for b in books} | ({day.isoformat()} if day else set()))
    ours = _ours(client, db, seller, days)
    theirs = {(b.device_id, b.document_number): b for b in books}
    rows: list[dict[str, Any]] = []
    for key in sorted(set(ours) | set(theirs)):
        our, their = ours.get(key), theirs.get(key)
        if our is not None and their is not None:
            status = "matched" if our[1] == their.total else "amount_differs"
        else:
            status = "missing_on_our_side" if our is None else "missing_in_your_books"
        rows.append(
            {
                "status": status,
                "device_id": key[0],
                "document_number": key[1],
                "our_time_ms": our[0] if our else None,
                "their_time_ms": their.time_ms if their else None,
                "our_total": our[1] if our else None,
                "their_total": their.total if their else None,
                "difference": (our[1] - their.total) if our and their else None,
            }
        )
    counts = {s: 0 for s in ("matched", "amount_differs", "missing_on_our_side", "missing_in_your_books")}
    for row in rows:
        counts[row["status"]] += 1
    return {"seller_tin": seller, "days": days, "summary": counts, "rows": rows}


def _iso(ms: int | None) -> str:
    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _money(minor: int | None) -> str:
    if minor is None:
        return ""
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d}"


def comparison_csv(result: dict[str, Any]) -> str:
    """The comparison as CSV (money as tenge with two decimals, like the upload)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(RESULT_COLUMNS)
    for r in result["rows"]:
        writer.writerow(
            [
                r["status"],
                r["device_id"],
                r["document_number"],
                _iso(r["our_time_ms"]),
                _iso(r["their_time_ms"]),
                _money(r["our_total"]),
                _money(r["their_total"]),
                _money(r["difference"]),
            ]
        )
    return out.getvalue()

"""Retailer reconciliation: each shift's Z-report against its receipts, missing documents, rejections."""

from __future__ import annotations

import datetime as dt
from typing import Any

from google.protobuf.message import DecodeError

from gateway import errors
from gateway.auth.tokens import Principal
from gateway.errors import GatewayError
from gateway.i18n import translate
from gateway.query.local_time import day_range_ms
from gateway.query.scoping import require_tin
from gateway.wire import pb

OPERATIONS = ("sell", "sell_return", "buy", "buy_return")
MAX_MISSING_LISTED = 200

# Rejection codes with a name and advice of their own for people (catalogue keys rejection.* and advice.*;
# the technical summary is in gateway/errors.py); any other code reads rejection.other / advice.other.
REJECTION_CODES = (
    "unknown_device",
    "device_revoked",
    "invalid_rotation",
    "unknown_key",
    "bad_signature",
    "chain_fork",
    "prev_hash_mismatch",
    "seq_gap",
    "time_in_future",
    "malformed_envelope",
    "malformed_event",
    "field_too_long",
    "too_many_lines",
    "history_unavailable",
)


def rejection_words(code: str, lang: str) -> dict[str, str]:
    """A refusal's error code for people: its name ("meaning") and what to do ("what_to_do")."""
    known = code if code in REJECTION_CODES else "other"
    return {
        "meaning": translate(lang, f"rejection.{known}"),
        "what_to_do": translate(lang, f"advice.{known}"),
    }


_FIRST_DAY, _LAST_DAY = dt.date(1970, 1, 1), dt.date(2100, 1, 1)  # columns.clamp_time's range


def parse_date(value: str | None) -> dt.date:
    """A YYYY-MM-DD date a receipt can have, 1970 to 2100 (malformed_request otherwise)."""
    try:
        day = dt.date.fromisoformat((value or "").strip())
    except ValueError:
        raise GatewayError(errors.MALFORMED_REQUEST, key="error.date_format") from None
    if not _FIRST_DAY <= day <= _LAST_DAY:  # outside, ClickHouse's Date would quietly mean another day
        raise GatewayError(errors.MALFORMED_REQUEST, key="error.date_range")
    return day


def _missing_documents(first: int, last: int, present: list[int]) -> tuple[int, list[int]]:
    if last < first or first == 0:
        return 0, []
    have = set(present)
    missing = [n for n in range(first, last + 1) if n not in have] if last - first < 1_000_000 else []
    return len(missing), missing[:MAX_MISSING_LISTED]


def _shift(r: dict[str, Any], other_documents: list[int]) -> dict[str, Any]:
    operations = []
    for op in OPERATIONS:
        z_count, z_sum = int(r[f"z_{op}_count"]), int(r[f"z_{op}_sum"])
        count, total = int(r[f"receipts_{op}_count"]), int(r[f"receipts_{op}_sum"])
        if z_count or count or z_sum or total:
            operations.append(
                {
                    "operation": op.upper(),
                    "z_count": z_count,
                    "receipts_count": count,
                    "z_sum": z_sum,
                    "receipts_sum": total,
                    "agrees": z_count == count and z_sum == total,
                }
            )
    z_pay = {str(k): int(v) for k, v in r["z_payments"].items()}
    our_pay = {str(k): int(v) for k, v in r["receipts_payments"].items()}
    payments = [
        {
            "key": key,
            "operation": key.split(":")[0],
            "payment": key.split(":")[-1],
            "z_sum": z_pay.get(key, 0),
            "receipts_sum": our_pay.get(key, 0),
            "agrees": z_pay.get(key, 0) == our_pay.get(key, 0),
        }
        for key in sorted(set(z_pay) | set(our_pay))
    ]
    missing_count, missing = _missing_documents(
        int(r["first_document_number"]),
        int(r["last_document_number"]),
        [int(n) for n in r["documents"]] + other_documents,
    )
    return {
        "device_id": r["device_id"],
        "store_id": r["store_id"],
        "shift_number": int(r["shift_number"]),
        "closed_ms": int(r["closed_ms"]),
        "z_receipt_count": int(r["z_receipt_count"]),
        "receipts_count": int(r["receipts_count"]),
        "operations": operations,
        "payments": payments,
        "first_document_number": int(r["first_document_number"]),
        "last_document_number": int(r["last_document_number"]),
        "missing_documents": missing,
        "missing_document_count": missing_count,
        "agrees": not bool(r["mismatch"]) and missing_count == 0,
    }


def _day_params(tin: str, day: dt.date) -> dict[str, Any]:
    since, until = day_range_ms(day)  # the seller's local day (UTC+5): a shift closed at 00:30 is that day's
    return {"tin": tin, "since": since, "until": until}


_IN_DAY = (
    " >= fromUnixTimestamp64Milli({since:Int64}) AND {col} < fromUnixTimestamp64Milli({until:Int64})"
)


def _shifts(client: Any, db: str, tin: str, day: dt.date) -> list[dict[str, Any]]:
    result = client.query(
        f"SELECT *, toUnixTimestamp64Milli(closed_at) AS closed_ms FROM {db}.shift_reconciliation"
        " WHERE seller_tin = {tin:String} AND closed_at" + _IN_DAY.replace("{col}", "closed_at")
        + " ORDER BY device_id, shift_number",
        parameters=_day_params(tin, day),
    )
    names = list(result.column_names)
    rows = [dict(zip(names, row, strict=True)) for row in result.result_rows]
    # Only a shift with a gap in its receipts' numbers needs its Z report's other documents.
    gaps = [
        r
        for r in rows
        if r["first_document_number"]
        and len(set(r["documents"])) < r["last_document_number"] - r["first_document_number"] + 1
    ]
    other = _other_documents(client, db, tin, gaps) if gaps else {}
    return [_shift(r, other.get((str(r["device_id"]), int(r["seq"])), [])) for r in rows]


def _other_documents(
    client: Any, db: str, tin: str, shifts: list[dict[str, Any]]
) -> dict[tuple[str, int], list[int]]:
    """The numbers each Z report names as documents that are not receipts (an OFD register's cash
    movements), read from the Z report's event as the register's gateway made it."""
    rows = client.query(
        f"SELECT device_id, seq, event FROM {db}.events WHERE seller_tin = {{tin:String}}"
        " AND device_id IN {devices:Array(String)} AND seq IN {seqs:Array(UInt64)}"
        " AND kind = 'shift_close' AND protection = ''",
        parameters={
            "tin": tin,
            "devices": sorted({str(s["device_id"]) for s in shifts}),
            "seqs": sorted({int(s["seq"]) for s in shifts}),
        },
        column_formats={"event": "bytes"},
    ).result_rows
    out: dict[tuple[str, int], list[int]] = {}
    for device, seq, event in rows:
        try:
            close = pb.Event.FromString(event).shift_close
        except DecodeError:  # stored as accepted; a Z report we cannot read names nothing
            continue
        out[(str(device), int(seq))] = [int(n) for n in close.other_document_numbers]
    return out


def _rejections(client: Any, db: str, tin: str, day: dt.date, lang: str) -> list[dict[str, Any]]:
    rows = client.query(
        f"SELECT device_id, error_code, count(), min(seq), max(seq), any(detail),"
        f" toUnixTimestamp64Milli(max(received_at)) FROM {db}.rejections"
        " WHERE seller_tin = {tin:String} AND received_at" + _IN_DAY.replace("{col}", "received_at")
        + " GROUP BY device_id, error_code ORDER BY device_id, error_code",
        parameters=_day_params(tin, day),
    ).result_rows
    out = []
    for device, code, count, first_seq, last_seq, detail, last_ms in rows:
        out.append(
            {
                "device_id": str(device),
                "error_code": str(code),
                "count": int(count),
                "first_seq": int(first_seq),
                "last_seq": int(last_seq),
                "detail": str(detail)[:300],
                **rejection_words(str(code), lang),
                "last_ms": int(last_ms),
            }
        )
    return out


def reconcile_day(
    client: Any, db: str, principal: Principal, tin: str | None, day: dt.date, lang: str = "en"
) -> dict[str, Any]:
    """One seller's day: shifts closed that day (Z-report vs receipts), missing documents, rejections."""
    seller = require_tin(principal, tin)
    shifts = _shifts(client, db, seller, day)
    rejections = _rejections(client, db, seller, day, lang)
    return {
        "seller_tin": seller,
        "date": day.isoformat(),
        "shifts": shifts,
        "rejections": rejections,
        "summary": {
            "shifts": len(shifts),
            "shifts_agreeing": sum(1 for s in shifts if s["agrees"]),
            "missing_documents": sum(s["missing_document_count"] for s in shifts),
            "rejected_events": sum(r["count"] for r in rejections),
        },
    }

"""Receipts as an OFD cabinet shows them: per register and shift, search, one receipt, X/Z reports.

Search by fiscal sign (an OFD register's ticket number is its fiscal sign), document number, amount or
local day. A receipt comes with its lines, the verdict on each marking code, its anomalies written for the
reader, and the signed original (hashes, signature, key, and the event bytes unless they are sealed).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from gateway import errors
from gateway.auth.tokens import Principal
from gateway.errors import GatewayError
from gateway.query.anomaly_text import Reader, sentence
from gateway.query.books import parse_money
from gateway.query.local_time import day_range_ms
from gateway.query.scoping import scope_for

MAX_PAGE = 500
_LIST_COLUMNS = (
    "device_id, seq, store_id, shift_number, document_number, operation,"
    " toUnixTimestamp64Milli(event_time) AS event_ms, total, line_count, marked_code_count, fiscal_sign,"
    " findings, seller_tin"
)


@dataclass(frozen=True)
class ReceiptFilter:
    """What a receipt search narrows to; every field optional."""

    seller_tin: str | None = None
    device_id: str | None = None
    shift_number: int | None = None
    day: dt.date | None = None
    fiscal_sign: str | None = None  # also an OFD register's ticket number
    document_number: int | None = None
    amount: str | None = None  # tenge as typed: 1234.50 or 1 234,50


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _query(client: Any, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    result = client.query(sql, parameters=params)
    names = list(result.column_names)
    return [dict(zip(names, (_plain(v) for v in row), strict=True)) for row in result.result_rows]


def _cursor(item: dict[str, Any]) -> str:
    key = [item["event_ms"], item["device_id"], item["seq"]]
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def _decode_cursor(cursor: str) -> list[Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError:
        key = None
    shaped = isinstance(key, list) and len(key) == 3 and [type(v) for v in key] == [int, str, int]
    if shaped and 0 <= key[0] < 2**63 and 0 <= key[2] < 2**63:
        return list(key)
    raise GatewayError(errors.MALFORMED_REQUEST, "bad cursor: use the next_cursor of the previous page")


@dataclass(frozen=True)
class Receipts:
    """The receipts one reader may see."""

    client: Any
    db: str
    principal: Principal
    lang: str = "en"

    def _scope(self, tin: str | None = None) -> tuple[str, dict[str, Any]]:
        return scope_for(self.principal, tin).where()

    def page(self, flt: ReceiptFilter, *, limit: int = 100, cursor: str | None = None) -> dict[str, Any]:
        """Receipts matching the filter, newest first, with next_cursor."""
        if not 1 <= limit <= MAX_PAGE:
            raise GatewayError(errors.MALFORMED_REQUEST, f"limit must be between 1 and {MAX_PAGE}")
        where, params = self._scope(flt.seller_tin)
        parts = [where]
        if flt.device_id:
            parts.append("device_id = {device:String}")
            params["device"] = flt.device_id
        if flt.shift_number is not None:
            parts.append("shift_number = {shift:UInt32}")
            params["shift"] = flt.shift_number
        if flt.day is not None:
            params["since"], params["until"] = day_range_ms(flt.day)
            parts.append(
                "event_time >= fromUnixTimestamp64Milli({since:Int64})"
                " AND event_time < fromUnixTimestamp64Milli({until:Int64})"
            )
        if flt.fiscal_sign:
            parts.append("upper(fiscal_sign) = upper({sign:String})")
            params["sign"] = flt.fiscal_sign.strip()
        if flt.document_number is not None:
            parts.append("document_number = {document:UInt64}")
            params["document"] = flt.document_number
        if flt.amount:
            try:
                params["amount"] = parse_money(flt.amount)
            except ValueError:
                said = {"value": flt.amount[:40]}
                raise GatewayError(errors.MALFORMED_REQUEST, key="error.not_an_amount", params=said) from None
            if abs(params["amount"]) >= 2**62:
                raise GatewayError(errors.MALFORMED_REQUEST, "amount: too large")
            parts.append("total = {amount:Int64}")
        if cursor:
            params.update({f"c{i}": v for i, v in enumerate(_decode_cursor(cursor))})
            parts.append(
                "(toUnixTimestamp64Milli(event_time), device_id, seq)"
                " < ({c0:Int64}, {c1:String}, {c2:UInt64})"
            )
        rows = _query(
            self.client,
            f"SELECT {_LIST_COLUMNS} FROM {self.db}.receipts WHERE {' AND '.join(parts)}"
            f" ORDER BY event_time DESC, device_id DESC, seq DESC LIMIT {limit + 1}",
            params,
        )
        items = rows[:limit]
        return {"items": items, "next_cursor": _cursor(items[-1]) if len(rows) > limit else None}

    def receipt(self, device_id: str, seq: int) -> dict[str, Any]:
        """One receipt with lines, code verdicts, anomalies and the signed original (not_found if unseen)."""
        where, params = self._scope()
        params.update(device=device_id, seq=seq)
        key = f"{where} AND device_id = {{device:String}} AND seq = {{seq:UInt64}}"
        found = _query(
            self.client,
            f"SELECT *, toUnixTimestamp64Milli(event_time) AS event_ms,"
            f" toUnixTimestamp64Milli(received_at) AS received_ms FROM {self.db}.receipts"
            f" WHERE {key} LIMIT 1",
            params,
        )
        if not found:
            raise GatewayError(errors.NOT_FOUND, key="error.no_receipt")
        receipt = found[0]
        receipt.pop("event_time", None)
        receipt.pop("received_at", None)
        lines = _query(
            self.client,
            "SELECT line_no, name, gtin, quantity, unit, price, discount, markup, sum, storno, vat,"
            " vat_rate_bp, marking_codes, ai_label"
            f" FROM {self.db}.receipt_lines WHERE {key} ORDER BY line_no",
            params,
        )
        codes = _query(
            self.client,
            f"SELECT line, cis, raw_code, verdict, error_code FROM {self.db}.code_events WHERE {key}"
            " ORDER BY line, cis",
            params,
        )
        reader = Reader.of(self.principal, self.lang)
        anomalies = [
            {
                "kind": a["kind"],
                "line": a["line"],
                "cis": a["cis"],
                "text": sentence(
                    reader,
                    a["kind"],
                    detail=a["detail"],
                    other_seller_tin=a["other_seller_tin"],
                    other_store_id=a["other_store_id"],
                    facts=a["facts"],
                    event_ms=a["event_ms"],
                    detected_ms=a["detected_ms"],
                ),
            }
            for a in _query(
                self.client,
                "SELECT kind, line, cis, detail, other_seller_tin, other_store_id, facts,"
                " toUnixTimestamp64Milli(event_time) AS event_ms,"
                f" toUnixTimestamp64Milli(detected_at) AS detected_ms FROM {self.db}.anomalies WHERE {key}"
                " ORDER BY line, kind",
                params,
            )
        ]
        original = _query(
            self.client,
            "SELECT hex(envelope_hash) AS envelope_hash, hex(prev_hash) AS prev_hash,"
            " base64Encode(signature) AS signature, key_id, fiscal_sign, protection,"
            f" if(protection = '', base64Encode(event), '') AS event_base64 FROM {self.db}.events WHERE {key}"
            " LIMIT 1",
            params,
        )
        return {
            **receipt,
            "lines": lines,
            "codes": codes,
            "anomalies": anomalies,
            "original": original[0] if original else None,
        }

    def register(self, device_id: str) -> dict[str, Any]:
        """A register's Z-reports (newest first) and its X-report: the receipts since its last Z-report."""
        where, params = self._scope()
        params["device"] = device_id
        key = f"{where} AND device_id = {{device:String}}"
        z_reports = _query(
            self.client,
            "SELECT shift_number, seq, toUnixTimestamp64Milli(closed_at) AS closed_ms, receipt_count,"
            " sell_count, sell_sum, sell_return_count, sell_return_sum, buy_count, buy_sum,"
            " buy_return_count, buy_return_sum, cash, card, credit, tare, mobile, cash_in_drawer,"
            " first_document_number, last_document_number, store_id, seller_tin"
            f" FROM {self.db}.shifts WHERE {key}"
            " ORDER BY shift_number DESC LIMIT 100",
            params,
        )
        last_closed = max((int(z["shift_number"]) for z in z_reports), default=0)
        params["closed"] = last_closed
        open_rows = _query(
            self.client,
            "SELECT shift_number, operation, count() AS count, sum(total) AS sum, sum(cash - change) AS cash,"
            " sum(card) AS card, sum(credit) AS credit, sum(tare) AS tare, sum(mobile) AS mobile,"
            " toUnixTimestamp64Milli(min(event_time)) AS first_ms,"
            f" toUnixTimestamp64Milli(max(event_time)) AS last_ms FROM {self.db}.receipts"
            f" WHERE {key} AND shift_number > {{closed:UInt32}} GROUP BY shift_number, operation"
            " ORDER BY shift_number, operation",
            params,
        )
        known = _query(self.client, f"SELECT count() AS n FROM {self.db}.receipts WHERE {key}", params)
        if not z_reports and not known[0]["n"]:
            raise GatewayError(errors.NOT_FOUND, key="error.no_register_reports")
        x_report = None
        if open_rows:
            shift = max(int(r["shift_number"]) for r in open_rows)
            rows = [r for r in open_rows if int(r["shift_number"]) == shift]
            x_report = {
                "shift_number": shift,
                "first_ms": min(r["first_ms"] for r in rows),
                "last_ms": max(r["last_ms"] for r in rows),
                "operations": [
                    {
                        k: r[k]
                        for k in ("operation", "count", "sum", "cash", "card", "credit", "tare", "mobile")
                    }
                    for r in rows
                ],
            }
        return {"device_id": device_id, "z_reports": z_reports, "x_report": x_report}

"""A register's refusals: the envelopes the gateway refused, counted by error code and listed newest first.

A refusal is the register's own only when its record names a seller: ingest names one only once the
envelope's signature verified under the register's key (or the OFD register's token checked out). What was
refused before that (unknown device or key, bad signature, revoked, malformed) anyone can send under any
register's id, so it proves nothing about the register (docs/security.md, "Refusals nobody proved"): a
retailer never sees it, and the authority's staff see it apart, as not proven. The shift check and the
dashboard count a seller's refusals by the same rule, so the figures agree.

Every query is bounded by the table's ordering key, (device_id, received_at): one device, one period.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass
from typing import Any

from gateway import errors
from gateway.auth.tokens import Principal
from gateway.errors import GatewayError
from gateway.query.local_time import DAY_MS, TZ_LABEL, day_range_ms, local_day
from gateway.query.reconcile import rejection_words
from gateway.query.scoping import scope_for
from gateway.storage.device_store import load_devices

MAX_PAGE = 100
DEFAULT_DAYS = 7  # today and the six local days before it
MAX_RANGE_MS = 400 * DAY_MS  # as the dashboard's
PROVEN = "seller_tin != ''"
UNPROVEN = "seller_tin = ''"
_CODES = frozenset(e.code for e in errors.all_codes())
_ORDER = "received_at DESC, seq DESC, error_code DESC, envelope_hash DESC"
_KEY = "(toUnixTimestamp64Milli(received_at), seq, error_code, hex(envelope_hash))"


@dataclass(frozen=True)
class RefusalFilter:
    """Which refusals of one register: a period (default the last week), proven or not, one error code."""

    device_id: str
    since_ms: int | None = None
    until_ms: int | None = None
    proven: bool = True
    error_code: str | None = None

    def period(self, now_ms: int) -> tuple[int, int]:
        """[since, until) in ms: as asked, else the local week to today; too long or reversed is an error."""
        until = self.until_ms if self.until_ms is not None else day_range_ms(local_day(now_ms))[1]
        since = self.since_ms if self.since_ms is not None else until - DEFAULT_DAYS * DAY_MS
        if since >= until:
            raise GatewayError(errors.MALFORMED_REQUEST, key="error.until_before_since")
        if until - since > MAX_RANGE_MS:
            days = MAX_RANGE_MS // DAY_MS
            raise GatewayError(errors.MALFORMED_REQUEST, key="error.range_too_long", params={"days": days})
        return since, until


def encode_cursor(item: dict[str, Any]) -> str:
    """An opaque cursor pointing just after item."""
    key = [item["received_ms"], item["seq"], item["error_code"], item["envelope_hash"]]
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def decode_cursor(cursor: str) -> list[Any]:
    """The key a cursor points after (malformed_request if it is not one of ours)."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, binascii.Error):
        key = None
    types = (int, int, str, str)
    if (
        isinstance(key, list)
        and len(key) == len(types)
        and all(type(v) is t for v, t in zip(key, types, strict=True))
        and 0 <= key[0] < 2**63
        and 0 <= key[1] < 2**64
    ):
        return key
    raise GatewayError(errors.MALFORMED_REQUEST, "bad cursor: use the next_cursor of the previous page")


@dataclass(frozen=True)
class RegisterRefusals:
    """One register's refusals as one reader may see them."""

    client: Any
    db: str
    principal: Principal
    lang: str = "en"

    def _by_code(self, where: str, params: dict[str, Any]) -> dict[bool, list[dict[str, Any]]]:
        """Counts by error code, most first, of the proven refusals (True) and of the others (False)."""
        rows = self.client.query(
            f"SELECT {PROVEN} AS proven, error_code, count(), toUnixTimestamp64Milli(max(received_at))"
            f" FROM {self.db}.rejections WHERE {where} GROUP BY proven, error_code ORDER BY 3 DESC, 2",
            parameters=params,
        ).result_rows
        counts: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
        for proven, code, n, last in rows:
            counts[bool(proven)].append(
                {"error_code": str(code), "count": int(n), "last_ms": int(last), **self._words(str(code))}
            )
        return counts

    def _words(self, code: str) -> dict[str, str]:
        words = rejection_words(code, self.lang)
        return {"title": words["meaning"], "advice": words["what_to_do"]}

    def _visible(self, device_id: str, proven: list[dict[str, Any]]) -> bool:
        """A retailer reads a register registered to it, or one whose refusals of the period name it."""
        if not self.principal.is_retailer or proven:
            return True
        registered = load_devices(self.client, self.db, device_ids=[device_id])
        return any(d.seller_tin == self.principal.seller_tin for d in registered)

    def page(
        self, flt: RefusalFilter, *, limit: int = 20, cursor: str | None = None, now_ms: int | None = None
    ) -> dict[str, Any]:
        """Counts by error code over the period, and one page of refusals, newest first, with next_cursor."""
        if not 1 <= limit <= MAX_PAGE:
            raise GatewayError(errors.MALFORMED_REQUEST, f"limit must be between 1 and {MAX_PAGE}")
        staff = not self.principal.is_retailer
        if not flt.proven and not staff:
            raise GatewayError(errors.FORBIDDEN, key="error.unproven_staff_only")
        if flt.error_code is not None and flt.error_code not in _CODES:
            said = {"code": flt.error_code[:40]}
            raise GatewayError(errors.MALFORMED_REQUEST, key="error.unknown_error_code", params=said)
        since, until = flt.period(now_ms if now_ms is not None else int(time.time() * 1000))
        scope_sql, params = scope_for(self.principal).where()  # a retailer: the records naming it
        params.update(device=flt.device_id, since=since, until=until)
        where = (
            "device_id = {device:String} AND received_at >= fromUnixTimestamp64Milli({since:Int64})"
            f" AND received_at < fromUnixTimestamp64Milli({{until:Int64}}) AND {scope_sql}"
        )
        counts = self._by_code(where, params)  # a retailer's scope holds no unproven ones: they name nobody
        proven, unproven = counts[True], counts[False]
        if not self._visible(flt.device_id, proven):
            # Not said back: the same answer whether the register is another seller's or nobody's.
            raise GatewayError(errors.NOT_FOUND, key="error.no_register")
        listed = f"{where} AND {PROVEN if flt.proven else UNPROVEN}"
        if flt.error_code is not None:
            listed += " AND error_code = {code:String}"
            params["code"] = flt.error_code
        if cursor:
            params.update({f"c{i}": v for i, v in enumerate(decode_cursor(cursor))})
            # The ordering key's own condition first: a later page reads no more of the table than the first.
            listed += " AND received_at <= fromUnixTimestamp64Milli({c0:Int64})"
            listed += f" AND {_KEY} < ({{c0:Int64}}, {{c1:UInt64}}, {{c2:String}}, {{c3:String}})"
        rows = self.client.query(
            "SELECT toUnixTimestamp64Milli(received_at), seq, error_code, detail, hex(envelope_hash)"
            f" FROM {self.db}.rejections WHERE {listed} ORDER BY {_ORDER} LIMIT {limit + 1}",
            parameters=params,
        ).result_rows
        items = [
            {
                "received_ms": int(ms),
                "seq": int(seq),
                "error_code": str(code),
                "title": self._words(str(code))["title"],
                "detail": str(detail)[:300],
                "envelope_hash": str(envelope_hash),
            }
            for ms, seq, code, detail, envelope_hash in rows[:limit]
        ]
        answer: dict[str, Any] = {
            "device_id": flt.device_id,
            "since_ms": since,
            "until_ms": until,
            "time_zone": TZ_LABEL,
            "proven": flt.proven,
            "error_code": flt.error_code,
            "total": sum(c["count"] for c in proven),
            "by_code": proven,
            "items": items,
            "next_cursor": encode_cursor(items[-1]) if len(rows) > limit else None,
        }
        if staff:
            answer["unproven"] = {"total": sum(c["count"] for c in unproven), "by_code": unproven}
        return answer

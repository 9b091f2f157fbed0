"""The anomaly queue as a work queue: one row per incident with its facets, filtered, keyset-paged, as CSV.

An incident is the anomalies of one family (gateway/anomaly_kinds.py) on one line of one event: a code
sold twice in another store by a seller who does not own it is one incident with three facets. Its id
(hex of family, device, seq, line, cis) names it in URLs and in the case work (anomaly_cases.py).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, replace
from typing import Any

from gateway import errors
from gateway.anomaly_kinds import BY_NAME, KINDS, NAMES
from gateway.auth.tokens import Principal
from gateway.errors import GatewayError
from gateway.i18n import translate
from gateway.query.anomaly_text import Reader, sentence
from gateway.query.csv_dialect import RFC, CsvDialect
from gateway.query.local_time import local_text
from gateway.query.scoping import scope_for

MAX_PAGE = 1000
STATUSES = ("open", "resolved", "assigned", "unassigned", "mine")
# The case actions that change who holds a case (anomaly_cases.py writes them; take_over is stored only).
ASSIGNING = ("assign", "unassign", "take_over")
# People's columns first (when, what, where), then the identifiers scripts join on. Rows come in the
# queue's order: when the gateway found them (received time), never the register's own clock, which a
# clock_skew incident shows to be wrong.
CSV_COLUMNS = (
    "detected_at",
    "event_time",
    "titles",
    "detail",
    "seller_tin",
    "store_id",
    "device_id",
    "seq",
    "line",
    "cis",
    "status",
    "assignee",
    "kinds",
    "id",
)
_SEP = "\x1f"
_CURSOR_TUPLE = "({c0:Int64}, {c1:String}, {c2:UInt64}, {c3:Int32}, {c4:String}, {c5:String})"
_ORDER = ("detected_ms", "device_id", "seq", "line", "family", "cis")
_FAMILY = (
    f"transform(kind, {json.dumps(list(NAMES))}, {json.dumps([k.family for k in KINDS])}, kind)"
).replace('"', "'")
_ID = (
    f"lower(hex(concat(family, '{_SEP}', device_id, '{_SEP}', toString(seq), '{_SEP}', toString(line), "
    f"'{_SEP}', cis)))"
).replace(_SEP, "\\x1F")
# What an incident is: the anomalies of one family about one place (event, line, code), counted as one.
INCIDENT = f"{_FAMILY}, device_id, seq, line, cis"
# When an anomaly happened, as far as it can be believed: its event's time, unless the register claims a
# moment after the gateway found it (a clock ahead, clock_skew): then when it was found. Periods filter on
# it, so a register whose clock runs a day fast is not missing from the day it was found in.
HAPPENED = "least(event_time, detected_at)"
# What each integer of a cursor key may be (Int64, UInt64, Int32, as the cursor's parameters are typed).
_CURSOR_INTS = {0: (-(2**63), 2**63), 2: (0, 2**64), 3: (-(2**31), 2**31)}


@dataclass(frozen=True)
class AnomalyFilter:
    """What a reader narrows the queue to; every field optional."""

    kinds: tuple[str, ...] = ()
    seller_tin: str | None = None
    store_id: str | None = None
    device_id: str | None = None
    gtin: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    status: str | None = None  # open, resolved, assigned, unassigned, mine (staff only)
    assignee: str | None = None  # who "mine" is

    def checked(self) -> AnomalyFilter:
        """This filter, or malformed_request naming what is wrong (an unknown kind is not zero rows)."""
        unknown = [k for k in self.kinds if k not in BY_NAME]
        if unknown:
            kinds = ", ".join(unknown)[:200]
            raise GatewayError(errors.MALFORMED_REQUEST, key="error.unknown_kind", params={"kinds": kinds})
        if self.status and self.status not in STATUSES:
            said = {"statuses": ", ".join(STATUSES)}
            raise GatewayError(errors.MALFORMED_REQUEST, key="error.status_one_of", params=said)
        if self.since_ms is not None and self.until_ms is not None and self.since_ms >= self.until_ms:
            raise GatewayError(errors.MALFORMED_REQUEST, key="error.until_before_since")
        if self.gtin and not (self.gtin.isdigit() and len(self.gtin) == 14):
            raise GatewayError(errors.MALFORMED_REQUEST, key="error.gtin_digits")
        return self


def incident_id(family: str, device_id: str, seq: int, line: int, cis: str) -> str:
    """The id of an incident (as SQL computes it)."""
    return _SEP.join((family, device_id, str(seq), str(line), cis)).encode().hex()


def incident_key(incident: str) -> tuple[str, str, int, int, str]:
    """(family, device, seq, line, cis) of an incident id (not_found if it is not one)."""
    try:
        family, device, seq, line, cis = bytes.fromhex(incident).decode().split(_SEP)
        return family, device, int(seq), int(line), cis
    except (ValueError, UnicodeDecodeError):
        raise GatewayError(errors.NOT_FOUND, key="error.no_incident") from None


def encode_cursor(item: dict[str, Any]) -> str:
    """An opaque cursor pointing just after item."""
    return base64.urlsafe_b64encode(json.dumps([item[k] for k in _ORDER]).encode()).decode()


def decode_cursor(cursor: str) -> list[Any]:
    """The key a cursor points after (malformed_request if it is not one of ours)."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, binascii.Error):
        key = None
    types = (int, str, int, int, str, str)
    if (
        isinstance(key, list)
        and len(key) == len(types)
        and all(type(v) is t for v, t in zip(key, types, strict=True))  # bool is an int to Python only
        and all(low <= key[i] < high for i, (low, high) in _CURSOR_INTS.items())
    ):
        return key
    raise GatewayError(errors.MALFORMED_REQUEST, "bad cursor: use the next_cursor of the previous page")


def _rows_where(principal: Principal, flt: AnomalyFilter) -> tuple[str, dict[str, Any]]:
    """Conditions on anomaly rows (everything but kinds and case status)."""
    scope_sql, params = scope_for(principal, flt.seller_tin).where()
    parts = [scope_sql]
    for column, value in (("store_id", flt.store_id), ("device_id", flt.device_id)):
        if value:
            parts.append(f"{column} = {{{column}:String}}")
            params[column] = value
    if flt.gtin:
        parts.append("substring(cis, 3, 14) = {gtin:String}")
        params["gtin"] = flt.gtin
    if flt.since_ms is not None:
        parts.append(f"{HAPPENED} >= fromUnixTimestamp64Milli({{since:Int64}})")
        params["since"] = flt.since_ms
    if flt.until_ms is not None:
        parts.append(f"{HAPPENED} < fromUnixTimestamp64Milli({{until:Int64}})")
        params["until"] = flt.until_ms
    return " AND ".join(parts), params


_CASES = """SELECT incident_id,
    argMaxIf(action, at, action IN ('resolve', 'reopen')) AS status_action,
    argMaxIf(assignee, at, action IN (""" + ", ".join(f"'{a}'" for a in ASSIGNING) + """)) AS assignee,
    countIf(action = 'note') AS notes, toUnixTimestamp64Milli(max(at)) AS case_ms
FROM {db}.anomaly_case_actions GROUP BY incident_id"""


def _incidents_sql(db: str, where: str, staff: bool) -> str:
    inner = (
        # No alias may shadow a column the WHERE names: ClickHouse would read the alias there.
        f"SELECT {_FAMILY} AS family, device_id, seq, line, cis, seller_tin, store_id,"
        " toUnixTimestamp64Milli(min(detected_at)) AS detected_ms,"
        " toUnixTimestamp64Milli(min(event_time)) AS event_ms, groupArray(kind) AS kinds,"
        " groupArray(detail) AS details, groupArray(other_seller_tin) AS other_tins,"
        " groupArray(other_store_id) AS other_stores, groupArray(facts) AS facts_list"
        f" FROM {db}.anomaly_queue WHERE {where}"
        " GROUP BY family, device_id, seq, line, cis, seller_tin, store_id"
    )
    cases = (
        f"LEFT JOIN ({_CASES.format(db=db)}) AS c ON c.incident_id = i.id"
        if staff
        else "LEFT JOIN (SELECT '' AS incident_id, '' AS status_action, '' AS assignee,"
        " toUInt64(0) AS notes, toInt64(0) AS case_ms) AS c ON c.incident_id = i.id"
    )
    return (
        "SELECT i.*, c.status_action, c.assignee, c.notes, c.case_ms"
        f" FROM (SELECT *, {_ID} AS id FROM ({inner})) AS i {cases}"
    )


def _having(flt: AnomalyFilter, params: dict[str, Any], *, with_kinds: bool) -> str:
    parts = ["1"]
    if with_kinds and flt.kinds:
        parts.append("hasAny(kinds, {kinds:Array(String)})")
        params["kinds"] = list(flt.kinds)
    if flt.status == "open":
        parts.append("status_action != 'resolve'")
    elif flt.status == "resolved":
        parts.append("status_action = 'resolve'")
    elif flt.status == "assigned":
        parts.append("assignee != ''")
    elif flt.status == "unassigned":
        parts.append("assignee = ''")
    elif flt.status == "mine":
        parts.append("assignee = {me:String}")
        params["me"] = flt.assignee or ""
    return " AND ".join(parts)


def _facets(reader: Reader, r: dict[str, Any]) -> list[dict[str, Any]]:
    rows = zip(r["kinds"], r["details"], r["other_tins"], r["other_stores"], r["facts_list"], strict=True)
    order = {k: i for i, k in enumerate(NAMES)}
    out = []
    for kind, detail, other_tin, other_store, facts in sorted(rows, key=lambda x: order.get(x[0], 99)):
        facet: dict[str, Any] = {
            "kind": str(kind),
            "title": translate(reader.lang, f"kind.{kind}") if kind in BY_NAME else str(kind),
            "text": sentence(
                reader,
                str(kind),
                detail=str(detail),
                other_seller_tin=str(other_tin),
                other_store_id=str(other_store),
                facts=str(facts),
                event_ms=int(r["event_ms"]),
                detected_ms=int(r["detected_ms"]),
            ),
        }
        if reader.is_staff:  # the structured fields, for analysts' own tools
            facet.update(other_seller_tin=str(other_tin), other_store_id=str(other_store), detail=str(detail))
        out.append(facet)
    return out


def _plain_words(facets: list[dict[str, Any]]) -> str:
    """The incident's sentences, each once; a facet's bare name only when no facet says more.

    A clone's "the same code was sold before by …" repeats what the sold-twice facet says already.
    """
    kinds = {f["kind"] for f in facets}
    said = [
        f["text"]
        for f in facets
        if f["text"] != f["title"] and not (f["kind"] == "code_clone" and "code_sold_twice" in kinds)
    ]
    return "; ".join(dict.fromkeys(said or [f["text"] for f in facets]))


def _incident(reader: Reader, r: dict[str, Any]) -> dict[str, Any]:
    facets = _facets(reader, r)
    item: dict[str, Any] = {
        "id": str(r["id"]),
        "family": str(r["family"]),
        "kind": facets[0]["kind"],
        "kinds": [f["kind"] for f in facets],
        "detected_ms": int(r["detected_ms"]),
        "event_ms": int(r["event_ms"]),
        "seller_tin": str(r["seller_tin"]),
        "store_id": str(r["store_id"]),
        "device_id": str(r["device_id"]),
        "seq": int(r["seq"]),
        "line": int(r["line"]),
        "cis": str(r["cis"]),
        "gtin": str(r["cis"])[2:16] if r["cis"] else "",
        "detail": _plain_words(facets),
        "facets": facets,
    }
    if reader.is_staff:
        item["case"] = {
            "status": "resolved" if r["status_action"] == "resolve" else "open",
            "assignee": str(r["assignee"]),
            "notes": int(r["notes"]),
            "updated_ms": int(r["case_ms"]) or None,
        }
    return item


def _with_event_kinds(client: Any, db: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Items with the kind of event each happened on (receipt, shift_close, …; '' if none is stored).

    Pages link an incident to its receipt only when the event is one, else to its register.
    """
    if not items:
        return items
    keys = [(i["seller_tin"], i["device_id"], i["seq"]) for i in items]
    rows = client.query(
        f"SELECT seller_tin, device_id, seq, any(kind) FROM {db}.events"
        " WHERE (seller_tin, device_id, seq) IN {keys:Array(Tuple(String, String, UInt64))}"
        " GROUP BY seller_tin, device_id, seq",
        parameters={"keys": keys},
    ).result_rows
    kinds = {(str(t), str(d), int(q)): str(k) for t, d, q, k in rows}
    for item, key in zip(items, keys, strict=True):
        item["event_kind"] = kinds.get(key, "")
    return items


def _query(client: Any, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    result = client.query(sql, parameters=params)
    names = list(result.column_names)
    return [dict(zip(names, row, strict=True)) for row in result.result_rows]


@dataclass(frozen=True)
class AnomalyQueue:
    """The queue as one reader sees it: pages of incidents, counts, one incident."""

    client: Any
    db: str
    principal: Principal
    lang: str = "en"

    @property
    def reader(self) -> Reader:
        """Who reads, in which language."""
        return Reader.of(self.principal, self.lang)

    def _staff_filter(self, flt: AnomalyFilter) -> AnomalyFilter:
        if self.principal.is_retailer and flt.status:
            raise GatewayError(errors.FORBIDDEN, "case status is the tax authority's: not for retailers")
        return replace(flt.checked(), assignee=self.principal.label or self.principal.token_id)

    def page(self, flt: AnomalyFilter, *, limit: int = 100, cursor: str | None = None) -> dict[str, Any]:
        """One page of incidents, newest first: {"items": [...], "next_cursor": str|None}."""
        flt = self._staff_filter(flt)
        if not 1 <= limit <= MAX_PAGE:
            raise GatewayError(errors.MALFORMED_REQUEST, f"limit must be between 1 and {MAX_PAGE}")
        where, params = _rows_where(self.principal, flt)
        having = _having(flt, params, with_kinds=True)
        if cursor:
            having += f" AND ({', '.join(_ORDER)}) < {_CURSOR_TUPLE}"
            params.update({f"c{i}": v for i, v in enumerate(decode_cursor(cursor))})
        sql = (
            f"SELECT * FROM ({_incidents_sql(self.db, where, not self.principal.is_retailer)})"
            f" WHERE {having} ORDER BY {' DESC, '.join(_ORDER)} DESC LIMIT {limit + 1}"
        )
        rows = _query(self.client, sql, params)
        items = _with_event_kinds(self.client, self.db, [_incident(self.reader, r) for r in rows[:limit]])
        return {"items": items, "next_cursor": encode_cursor(items[-1]) if len(rows) > limit else None}

    def counts(self, flt: AnomalyFilter) -> dict[str, Any]:
        """Incidents matching the filter ("total"), and by kind with every filter but the kind ("by_kind")."""
        flt = self._staff_filter(flt)
        where, params = _rows_where(self.principal, flt)
        having = _having(flt, params, with_kinds=False)
        params["kinds"] = list(flt.kinds)
        matches = "hasAny(kinds, {kinds:Array(String)})" if flt.kinds else "1"
        incidents = _incidents_sql(self.db, where, not self.principal.is_retailer)
        base = f"SELECT kinds FROM ({incidents}) WHERE {having}"
        total = _query(self.client, f"SELECT countIf({matches}) AS n FROM ({base})", params)[0]["n"]
        by_kind = _query(
            self.client,
            f"SELECT k, count() AS n FROM ({base}) ARRAY JOIN arrayDistinct(kinds) AS k GROUP BY k"
            " ORDER BY n DESC, k",
            params,
        )
        return {"total": int(total), "by_kind": {str(r["k"]): int(r["n"]) for r in by_kind}}

    def incident(self, incident: str) -> dict[str, Any]:
        """One incident by id, with its facets (not_found outside the reader's scope)."""
        family, device, seq, line, cis = incident_key(incident)
        scope_sql, params = scope_for(self.principal).where()
        params.update(device=device, seq=seq, line=line, cis=cis, family=family)
        where = (
            f"{scope_sql} AND device_id = {{device:String}} AND seq = {{seq:UInt64}}"
            " AND line = {line:Int32} AND cis = {cis:String}"
        )
        sql = (
            f"SELECT * FROM ({_incidents_sql(self.db, where, not self.principal.is_retailer)})"
            " WHERE family = {family:String}"
        )
        rows = _query(self.client, sql, params)
        if not rows:
            raise GatewayError(errors.NOT_FOUND, key="error.no_incident")
        return _with_event_kinds(self.client, self.db, [_incident(self.reader, rows[0])])[0]


def csv_header(lang: str, dialect: CsvDialect = RFC) -> str:
    """The CSV export's header line, in the reader's language."""
    return dialect.write([dialect.header(lang, "csv.anomalies.", CSV_COLUMNS)])


def csv_rows(items: list[dict[str, Any]], dialect: CsvDialect = RFC, lang: str = "en") -> str:
    """CSV text of a page of incidents (no header); times in local time (UTC+5)."""

    def status(item: dict[str, Any]) -> str:
        value = str((item.get("case") or {}).get("status", ""))
        return translate(lang, f"case.{value}") if value and dialect.for_people else value

    return dialect.write(
        (
            [
                local_text(i["detected_ms"]),
                local_text(i["event_ms"]),
                "; ".join(f["title"] for f in i["facets"]),
                i["detail"],
                i["seller_tin"],
                i["store_id"],
                i["device_id"],
                i["seq"],
                i["line"],
                i["cis"],
                status(i),
                (i.get("case") or {}).get("assignee", ""),
                " ".join(i["kinds"]),
                i["id"],
            ]
            for i in items
        ),
        start=False,
    )

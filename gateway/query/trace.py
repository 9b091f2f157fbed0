"""Trace a marking code: its registry entry, every check, sale and return in time order, its anomalies."""

from __future__ import annotations

from typing import Any

from gateway import errors
from gateway.auth.tokens import Principal
from gateway.codes.parser import validate_code
from gateway.errors import GatewayError
from gateway.query.anomaly_text import Reader, sentence
from gateway.query.scoping import scope_for

MAX_EVENTS = 2000


# Longer than any marking code: an element string is under 200 characters, a GS1 Digital Link URI with
# its crypto tail percent-escaped stays under this.
MAX_CODE_CHARS = 512


def identify(code: str) -> dict[str, Any]:
    """The cis and GTIN of a scanned code in any form a scanner produces, or of a bare cis."""
    raw = code.strip().replace("\\u001d", "\x1d").replace("\\x1d", "\x1d")
    if not raw or len(raw) > MAX_CODE_CHARS:
        raise GatewayError(errors.MALFORMED_REQUEST, key="error.code_needed")
    result = validate_code(raw)
    if result.cis:
        return {
            "input": code,
            "cis": result.cis,
            "gtin": result.gtin or "",
            "group": result.group or "",
            "valid": result.ok,
            "error": result.error or "",
        }
    # A bare cis is 01 + GTIN-14 + 21 + serial; accept it even if the parser wants a crypto tail.
    if raw.startswith("01") and raw[16:18] == "21" and raw[2:16].isdigit():
        return {
            "input": code,
            "cis": raw,
            "gtin": raw[2:16],
            "group": "",
            "valid": False,
            "error": result.error or "",
        }
    raise GatewayError(errors.MALFORMED_REQUEST, key="error.not_a_code")


def _tables(client: Any, db: str) -> set[str]:
    rows = client.query("SELECT name FROM system.tables WHERE database = {db:String}", parameters={"db": db})
    return {str(r[0]) for r in rows.result_rows}


def _registry(client: Any, db: str, cis: str) -> dict[str, Any] | None:
    rows = client.query(
        f"SELECT cis, gtin, owner_tin, product_group, status, expires_on, toUnixTimestamp64Milli(imported_at)"
        f" FROM {db}.code_registry FINAL WHERE cis = {{cis:String}} LIMIT 1",
        parameters={"cis": cis},
    ).result_rows
    if not rows:
        return None
    cis_, gtin, owner, group, status, expires, imported = rows[0]
    return {
        "cis": cis_,
        "gtin": gtin,
        "owner_tin": owner,
        "product_group": group,
        "status": status,
        "expires_on": expires.isoformat() if expires else None,
        "imported_ms": int(imported),
    }


def _code_events(client: Any, db: str, cis: str, where: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    rows = client.query(
        f"SELECT toUnixTimestamp64Milli(event_time), toUnixTimestamp64Milli(received_at), kind, verdict,"
        f" error_code, raw_code, seller_tin, store_id, device_id, seq, document_number, line, check_id"
        f" FROM {db}.code_events WHERE cis = {{cis:String}} AND {where}"
        f" ORDER BY event_time, device_id, seq, line LIMIT {MAX_EVENTS}",
        parameters={**params, "cis": cis},
    ).result_rows
    names = [
        "event_ms",
        "received_ms",
        "kind",
        "verdict",
        "error_code",
        "raw_code",
        "seller_tin",
        "store_id",
        "device_id",
        "seq",
        "document_number",
        "line",
        "check_id",
    ]
    return [
        dict(zip(names, (int(v) if isinstance(v, int) else str(v) for v in r), strict=True)) for r in rows
    ]


def _receipt_line_events(
    client: Any, db: str, cis: str, gtin: str, where: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    # Without the code tables (migration 0002) a sale or return is still found on its receipt line.
    rows = client.query(
        f"SELECT toUnixTimestamp64Milli(l.event_time), l.operation, l.seller_tin, l.store_id, l.device_id,"
        f" l.seq, l.document_number, l.line_no,"
        f" arrayFirst(c -> position(c, {{cis:String}}) > 0, l.marking_codes) AS raw"
        f" FROM {db}.receipt_lines AS l WHERE l.gtin = {{gtin:String}}"
        f" AND arrayExists(c -> position(c, {{cis:String}}) > 0, l.marking_codes) AND {where}"
        f" ORDER BY l.event_time, l.device_id, l.seq LIMIT {MAX_EVENTS}",
        parameters={**params, "cis": cis, "gtin": gtin},
    ).result_rows
    kinds = {"SELL": "sale", "SELL_RETURN": "return", "BUY": "buy", "BUY_RETURN": "buy_return"}
    return [
        {
            "event_ms": int(t),
            "received_ms": None,
            "kind": kinds.get(str(op), str(op).lower()),
            "verdict": "",
            "error_code": "",
            "raw_code": str(raw),
            "seller_tin": str(tin),
            "store_id": str(store),
            "device_id": str(device),
            "seq": int(seq),
            "document_number": int(doc),
            "line": int(line),
            "check_id": "",
        }
        for t, op, tin, store, device, seq, doc, line, raw in rows
    ]


def _anomalies(
    client: Any, db: str, cis: str, where: str, params: dict[str, Any], reader: Reader
) -> list[dict[str, Any]]:
    rows = client.query(
        f"SELECT kind, toUnixTimestamp64Milli(event_time), toUnixTimestamp64Milli(detected_at), seller_tin,"
        f" store_id, device_id, seq, detail, other_seller_tin, other_store_id, facts"
        f" FROM {db}.anomalies WHERE cis = {{cis:String}} AND {where} ORDER BY event_time LIMIT 500",
        parameters={**params, "cis": cis},
    ).result_rows
    out = []
    for kind, event_ms, detected_ms, tin, store, device, seq, detail, other_tin, other_store, facts in rows:
        text = sentence(
            reader, str(kind), detail=str(detail), other_seller_tin=str(other_tin),
            other_store_id=str(other_store), facts=str(facts), event_ms=int(event_ms),
            detected_ms=int(detected_ms),
        )
        item = {
            "kind": str(kind), "event_ms": int(event_ms), "seller_tin": str(tin), "store_id": str(store),
            "device_id": str(device), "seq": int(seq), "detail": text,
        }
        if reader.is_staff:
            item.update(other_seller_tin=str(other_tin), other_store_id=str(other_store))
        out.append(item)
    return out


def current_status(registry: dict[str, Any] | None, events: list[dict[str, Any]]) -> str:
    """What the code is now: sold, returned (back in circulation), checked, or its registry status."""
    for event in reversed(events):
        if event["kind"] == "sale":
            return "sold"
        if event["kind"] == "return":
            return "returned"
    if registry is not None:
        return str(registry["status"])
    return "checked" if events else "unseen"


def _registry_for(registry: dict[str, Any] | None, seller_tin: str | None) -> dict[str, Any] | None:
    """The registry entry as this reader may see it: a retailer never reads another seller's TIN."""
    if registry is None:
        return None
    owner = str(registry["owner_tin"])
    if seller_tin is None:
        return {**registry, "owner": "named" if owner else "none"}
    mine = owner == seller_tin
    whose = "you" if mine else ("another" if owner else "none")
    return {**registry, "owner_tin": owner if mine else "", "owner": whose}


def trace_code(client: Any, db: str, principal: Principal, code: str, lang: str = "en") -> dict[str, Any]:
    """The whole story of one code as this principal may see it (a retailer: only its own events).

    A retailer that neither owns the code nor handled it learns only that: "visible": false, status
    "not_visible" (never "unseen", which would be untrue when others sold it).
    """
    ident = identify(code)
    scope = scope_for(principal)
    reader = Reader(scope.seller_tin, lang)
    where, params = scope.where("seller_tin")
    tables = _tables(client, db)
    registry = _registry(client, db, ident["cis"]) if "code_registry" in tables else None
    events = _code_events(client, db, ident["cis"], where, params) if "code_events" in tables else []
    if not events:  # codes seen before the code tables existed are still on their receipt lines
        events = _receipt_line_events(client, db, ident["cis"], ident["gtin"], where, params.copy())
    visible = True
    owns = registry is not None and registry["owner_tin"] == scope.seller_tin
    if scope.seller_tin is not None and not events and not owns:
        # Neither owned nor handled by this retailer: whether it exists, and where it went, is not theirs.
        visible = False
        registry = None
    sales = sum(1 for e in events if e["kind"] == "sale")
    returns = sum(1 for e in events if e["kind"] == "return")
    return {
        "code": ident,
        "visible": visible,
        "registry": _registry_for(registry, scope.seller_tin),
        "status": current_status(registry, events) if visible else "not_visible",
        "sales": sales,
        "returns": returns,
        "events": events,
        "anomalies": _anomalies(client, db, ident["cis"], where, params, reader),
    }

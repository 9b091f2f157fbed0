"""Analyst and retailer JSON API: trace, anomaly queue (+CSV), reconciliation, books, dashboard."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from aiohttp import web

from gateway import errors
from gateway.anomaly_kinds import KINDS, NAMES
from gateway.errors import GatewayError
from gateway.http.access import require_scope
from gateway.http.audit_trail import audit_request
from gateway.http.errors import lang_of
from gateway.http.json_body import json_body
from gateway.http.keys import SERVICE
from gateway.http.query_values import whole_number
from gateway.http.uploads import upload_work
from gateway.i18n import translate
from gateway.query.anomalies import MAX_PAGE, AnomalyFilter, csv_header, csv_rows
from gateway.query.anomaly_cases import CaseAction
from gateway.query.books import comparison_csv, comparison_xlsx, parse_books
from gateway.query.csv_dialect import dialect_for
from gateway.query.local_time import parse_time
from gateway.query.read_side import Reads
from gateway.query.reconcile import parse_date
from gateway.security import audit

READERS = ("analyst", "retailer")
CSV_PAGE = 1000
MAX_CSV_ROWS = 5_000_000
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def reads_of(request: web.Request, *scopes: str) -> Reads:
    """The read side for the caller, who must hold one of these scopes, in the caller's language."""
    principal = require_scope(request, *(scopes or READERS))
    return Reads(request.app[SERVICE].storage, principal, lang_of(request))


def _filter(request: web.Request) -> AnomalyFilter:
    q = request.query
    kinds = tuple(k.strip() for part in q.getall("kind", []) for k in part.split(",") if k.strip())
    return AnomalyFilter(
        kinds=kinds,
        seller_tin=q.get("tin") or None,
        store_id=q.get("store") or None,
        device_id=q.get("device") or None,
        gtin=q.get("gtin") or None,
        since_ms=parse_time(q.get("since"), name="since"),
        until_ms=parse_time(q.get("until"), name="until"),
        status=q.get("status") or None,
    )


def limit_of(request: web.Request, default: int = 100, most: int = MAX_PAGE) -> int:
    """?limit= between 1 and most (an error otherwise, never silently clamped)."""
    limit = whole_number(request, "limit")
    limit = default if limit is None else limit
    if not 1 <= limit <= most:
        raise GatewayError(errors.MALFORMED_REQUEST, f"limit must be between 1 and {most}")
    return limit


async def whoami(request: web.Request) -> web.Response:
    """The caller's scope and TIN (the pages use it to check a token at login)."""
    p = require_scope(request, *READERS)
    return web.json_response(
        {"scope": p.scope, "seller_tin": p.seller_tin, "token_id": p.token_id, "label": p.label}
    )


async def get_trace(request: web.Request) -> web.Response:
    """Trace one code: registry entry, events in time order, status, anomalies."""
    return web.json_response(await reads_of(request).trace.of(request.match_info["code"]))


async def get_anomaly_kinds(request: web.Request) -> web.Response:
    """The one list of anomaly kinds, with their family and title in the reader's language."""
    require_scope(request, *READERS)
    lang = lang_of(request)
    return web.json_response(
        {
            "kinds": [
                {"kind": k.kind, "family": k.family, "title": translate(lang, f"kind.{k.kind}")}
                for k in KINDS
            ]
        }
    )


async def get_anomalies(request: web.Request) -> web.Response:
    """One page of incidents with the filter's total and counts by kind; next_cursor pages on."""
    anomalies = reads_of(request).anomalies
    flt = _filter(request)
    limit, cursor = limit_of(request), request.query.get("cursor") or None
    counts = request.query.get("counts", "1")
    if counts not in ("0", "1"):
        raise GatewayError(errors.MALFORMED_REQUEST, "counts must be 0 or 1")
    return web.json_response(await anomalies.page(flt, limit=limit, cursor=cursor, counts=counts == "1"))


async def get_anomalies_csv(request: web.Request) -> web.StreamResponse:
    """The whole filtered queue as CSV, streamed page by page (memory stays flat)."""
    reads = reads_of(request)
    flt = _filter(request)
    lang = reads.lang
    dialect = dialect_for(request.query.get("dialect"), lang)
    page = await reads.anomalies.page(flt, limit=CSV_PAGE)
    response = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": 'attachment; filename="anomalies.csv"',
    })
    await response.prepare(request)
    await response.write(csv_header(lang, dialect).encode())  # with the BOM, if the dialect has one
    written = 0
    while True:
        await response.write(csv_rows(page["items"], dialect, lang).encode())
        written += len(page["items"])
        cursor = page["next_cursor"]
        if not cursor or written >= MAX_CSV_ROWS:
            break
        page = await reads.anomalies.page(flt, limit=CSV_PAGE, cursor=cursor)
    await response.write_eof()
    return response


async def get_incident(request: web.Request) -> web.Response:
    """One incident with its facets, and for staff its case: status, assignee, history."""
    return web.json_response(await reads_of(request).anomalies.incident(request.match_info["incident"]))


async def post_incident_action(request: web.Request) -> web.Response:
    """Take, hand back, resolve, reopen or note an incident (analysts); stored with who and when, audited."""
    anomalies = reads_of(request, "analyst").anomalies
    action = CaseAction.parse(await json_body(request))
    incident = request.match_info["incident"]
    result = await anomalies.act(incident, action)
    detail = f"{action.action} {action.assignee}".strip() + (" (with a note)" if action.note else "")
    await audit_request(request, audit.ANOMALY_CASE, incident, detail)
    return web.json_response(result)


async def get_shifts(request: web.Request) -> web.Response:
    """A seller's day: each shift's Z-report against its receipts, missing documents, rejections."""
    reconcile = reads_of(request).reconcile
    day = parse_date(request.query.get("date"))
    return web.json_response(await reconcile.day(request.query.get("tin"), day))


async def post_books(request: web.Request) -> web.Response:
    """Compare an uploaded books file (CSV or XLSX) with our receipts; JSON, CSV or XLSX (?format=)."""
    reads = reads_of(request)
    q = request.query
    day = parse_date(q["date"]) if q.get("date") else None
    since = parse_date(q["since"]) if q.get("since") else None
    until = parse_date(q["until"]) if q.get("until") else None
    lang = reads.lang
    raw = await request.read()
    books = await upload_work(lambda: parse_books(raw, lang))
    result = await reads.reconcile.books(
        q.get("tin"), books, day=day, since=since, until=until, status=q.get("status") or None
    )
    if q.get("format") == "csv":
        dialect = dialect_for(q.get("dialect"), lang)
        return web.Response(
            body=await upload_work(lambda: comparison_csv(result, lang, dialect).encode()),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": 'attachment; filename="books-comparison.csv"'},
        )
    if q.get("format") == "xlsx":
        return web.Response(
            body=await upload_work(lambda: comparison_xlsx(result, lang)),
            content_type=XLSX,
            headers={"Content-Disposition": 'attachment; filename="books-comparison.xlsx"'},
        )
    return web.json_response(result)


async def get_dashboard(request: web.Request) -> web.Response:
    """Dashboard figures for a time range (default the last 24 h)."""
    reads = reads_of(request)
    since = parse_time(request.query.get("since"), name="since")
    until = parse_time(request.query.get("until"), name="until")
    figures = await reads.reconcile.dashboard(request.query.get("tin"), since, until)
    service = request.app[SERVICE]
    if not reads.principal.is_retailer:  # node internals are for the authority's staff only
        figures["ingest"]["journal_unshipped_bytes"] = service.journal.unshipped_bytes()
        figures["ingest"]["shipper"] = service.shipper.stats()
    return web.json_response(figures)


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3 description shipped in the package, its kind enum read from the one list of kinds."""
    text = resources.files("gateway.http").joinpath("openapi.json").read_text()
    document: dict[str, Any] = json.loads(text)
    document["components"]["schemas"]["AnomalyKind"]["enum"] = list(NAMES)
    return document


async def get_openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3 description of the HTTP API."""
    return web.json_response(openapi_document())


def setup_analyst_routes(app: web.Application) -> None:
    """Add the analyst and retailer routes and the OpenAPI document."""
    app.router.add_get("/v1/whoami", whoami)
    app.router.add_get("/v1/trace/{code:.+}", get_trace)
    app.router.add_get("/v1/anomaly-kinds", get_anomaly_kinds)
    app.router.add_get("/v1/anomalies", get_anomalies)
    app.router.add_get("/v1/anomalies.csv", get_anomalies_csv)
    app.router.add_get("/v1/anomalies/{incident}", get_incident)
    app.router.add_post("/v1/anomalies/{incident}/actions", post_incident_action)
    app.router.add_get("/v1/reconcile/shifts", get_shifts)
    app.router.add_post("/v1/reconcile/books", post_books)
    app.router.add_get("/v1/dashboard", get_dashboard)
    app.router.add_get("/v1/openapi.json", get_openapi)

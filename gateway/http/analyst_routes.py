"""Analyst and retailer JSON API: trace, anomaly queue (+CSV), reconciliation, books, dashboard."""

from __future__ import annotations

import json
from functools import partial
from importlib import resources
from typing import Any

from aiohttp import web

from gateway import errors
from gateway.auth.tokens import Principal
from gateway.errors import GatewayError
from gateway.http.access import require_scope
from gateway.http.keys import SERVICE
from gateway.query.anomalies import (
    AnomalyFilter,
    count_by_kind,
    csv_header,
    csv_rows,
    list_anomalies,
    parse_time,
)
from gateway.query.books import compare_books, comparison_csv, parse_books
from gateway.query.dashboard import dashboard
from gateway.query.reconcile import parse_date, reconcile_day
from gateway.query.trace import trace_code

READERS = ("analyst", "retailer")
CSV_PAGE = 5000
MAX_CSV_ROWS = 5_000_000


def _filter(request: web.Request) -> AnomalyFilter:
    q = request.query
    kinds = tuple(k for part in q.getall("kind", []) for k in part.split(",") if k.strip())
    return AnomalyFilter(
        kinds=tuple(k.strip() for k in kinds),
        seller_tin=q.get("tin") or None,
        store_id=q.get("store") or None,
        device_id=q.get("device") or None,
        since_ms=parse_time(q.get("since")),
        until_ms=parse_time(q.get("until")),
    )


def _int(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise GatewayError(errors.MALFORMED_REQUEST, f"{name} must be a whole number") from None


async def whoami(request: web.Request) -> web.Response:
    """The caller's scope and TIN (the pages use it to check a token at login)."""
    p = require_scope(request, *READERS)
    return web.json_response({"scope": p.scope, "seller_tin": p.seller_tin, "token_id": p.token_id})


async def get_trace(request: web.Request) -> web.Response:
    """Trace one code: registry entry, events in time order, status, anomalies."""
    principal = require_scope(request, *READERS)
    storage = request.app[SERVICE].storage
    code = request.match_info["code"]
    return web.json_response(await storage.run(lambda c: trace_code(c, storage.database, principal, code)))


async def get_anomalies(request: web.Request) -> web.Response:
    """One page of the anomaly queue with counts by kind; next_cursor pages on."""
    principal = require_scope(request, *READERS)
    flt = _filter(request)
    limit, cursor = _int(request, "limit", 100), request.query.get("cursor") or None
    storage = request.app[SERVICE].storage
    db = storage.database
    page = await storage.run(lambda c: list_anomalies(c, db, principal, flt, limit=limit, cursor=cursor))
    if request.query.get("counts", "1") != "0":
        page["counts"] = await storage.run(lambda c: count_by_kind(c, db, principal, flt))
    return web.json_response(page)


def _next_page(
    client: Any, *, db: str, principal: Principal, flt: AnomalyFilter, cursor: str
) -> dict[str, Any]:
    return list_anomalies(client, db, principal, flt, limit=CSV_PAGE, cursor=cursor)


async def get_anomalies_csv(request: web.Request) -> web.StreamResponse:
    """The whole filtered queue as CSV, streamed page by page (memory stays flat)."""
    principal = require_scope(request, *READERS)
    flt = _filter(request)
    storage = request.app[SERVICE].storage
    db = storage.database
    first = await storage.run(lambda c: list_anomalies(c, db, principal, flt, limit=CSV_PAGE))
    response = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": 'attachment; filename="anomalies.csv"',
    })
    await response.prepare(request)
    await response.write(csv_header().encode())
    page, written = first, 0
    while True:
        await response.write(csv_rows(page["items"]).encode())
        written += len(page["items"])
        cursor = page["next_cursor"]
        if not cursor or written >= MAX_CSV_ROWS:
            break
        page = await storage.run(partial(_next_page, db=db, principal=principal, flt=flt, cursor=cursor))
    await response.write_eof()
    return response


async def get_shifts(request: web.Request) -> web.Response:
    """A seller's day: each shift's Z-report against its receipts, missing documents, rejections."""
    principal = require_scope(request, *READERS)
    day = parse_date(request.query.get("date"))
    tin = request.query.get("tin")
    storage = request.app[SERVICE].storage
    return web.json_response(
        await storage.run(lambda c: reconcile_day(c, storage.database, principal, tin, day))
    )


async def post_books(request: web.Request) -> web.Response:
    """Compare an uploaded books CSV with our receipts; JSON, or CSV with ?format=csv."""
    principal = require_scope(request, *READERS)
    day = parse_date(request.query["date"]) if request.query.get("date") else None
    tin = request.query.get("tin")
    try:
        text = (await request.read()).decode("utf-8")
    except UnicodeDecodeError:
        raise GatewayError(errors.MALFORMED_REQUEST, "the CSV must be UTF-8") from None
    books = parse_books(text)
    storage = request.app[SERVICE].storage
    result = await storage.run(lambda c: compare_books(c, storage.database, principal, tin, books, day))
    if request.query.get("format") == "csv":
        return web.Response(
            text=comparison_csv(result),
            content_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="books-comparison.csv"'},
        )
    return web.json_response(result)


async def get_dashboard(request: web.Request) -> web.Response:
    """Dashboard figures for a time range (default the last 24 h)."""
    principal = require_scope(request, *READERS)
    since, until = parse_time(request.query.get("since")), parse_time(request.query.get("until"))
    tin = request.query.get("tin")
    service = request.app[SERVICE]
    storage = service.storage
    figures = await storage.run(
        lambda c: dashboard(c, storage.database, principal, tin=tin, since_ms=since, until_ms=until)
    )
    if not principal.is_retailer:  # node internals are for the authority's staff only
        figures["ingest"]["journal_unshipped_bytes"] = service.journal.unshipped_bytes()
        figures["ingest"]["shipper"] = service.shipper.stats()
    return web.json_response(figures)


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3 description shipped in the package."""
    text = resources.files("gateway.http").joinpath("openapi.json").read_text()
    document: dict[str, Any] = json.loads(text)
    return document


async def get_openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3 description of the HTTP API."""
    return web.json_response(openapi_document())


def setup_analyst_routes(app: web.Application) -> None:
    """Add the analyst and retailer routes and the OpenAPI document."""
    app.router.add_get("/v1/whoami", whoami)
    app.router.add_get("/v1/trace/{code:.+}", get_trace)
    app.router.add_get("/v1/anomalies", get_anomalies)
    app.router.add_get("/v1/anomalies.csv", get_anomalies_csv)
    app.router.add_get("/v1/reconcile/shifts", get_shifts)
    app.router.add_post("/v1/reconcile/books", post_books)
    app.router.add_get("/v1/dashboard", get_dashboard)
    app.router.add_get("/v1/openapi.json", get_openapi)

"""Liveness and readiness: /healthz answers while the process runs, /readyz when it can accept events."""

from __future__ import annotations

from aiohttp import web

from gateway.http.keys import SERVICE


async def healthz(request: web.Request) -> web.Response:
    """Alive: "ok", or "degraded" (still 200: ingest works) while journal records sit in quarantine."""
    shipper = request.app[SERVICE].shipper.stats()
    if not shipper["quarantined"]:
        return web.json_response({"status": "ok"})
    return web.json_response({
        "status": "degraded",
        "problems": ["journal records in quarantine: see `tracegate quarantine list`"],
        "quarantined": shipper["quarantined"],
        "last_quarantine": shipper["last_quarantine"],
        "last_quarantine_at_ms": shipper["last_quarantine_at_ms"],
    })


async def readyz(request: web.Request) -> web.Response:
    """Ready: the journal has room and shipping is not failing; otherwise 503 with the reasons."""
    service = request.app[SERVICE]
    shipper = service.shipper.stats()
    journal_bytes = service.journal.unshipped_bytes()
    budget = service.settings.journal_budget_bytes
    problems = []
    if journal_bytes > 0.9 * budget:
        problems.append("journal near its budget")
    if shipper.get("last_error"):
        problems.append("shipping to storage is failing")
    body = {
        "ready": not problems,
        "problems": problems,
        "journal_unshipped_bytes": journal_bytes,
        "journal_budget_bytes": budget,
        "shipper": shipper,
        "devices": len(service.registry),
    }
    return web.json_response(body, status=200 if not problems else 503)


def setup_health(app: web.Application) -> None:
    """Add /healthz and /readyz."""
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)

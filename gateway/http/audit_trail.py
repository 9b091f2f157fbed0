"""The audit log of admin actions: written for each such request, read by `GET /v1/admin/audit`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.http.access import TOKENS, bearer_token, require_scope
from gateway.http.client_address import remote_of
from gateway.http.keys import SERVICE
from gateway.http.query_values import whole_number
from gateway.security import audit


async def audit_request(request: web.Request, action: str, target: str, detail: str = "") -> None:
    """Write the audit row of an admin action made by this request."""
    service = request.app[SERVICE]
    principal: Any = None
    token = bearer_token(request)
    if token and token != service.admin_token:
        principal = request.app[TOKENS].authenticate(token)
    await audit.record(
        service.storage,
        principal,
        action,
        target,
        detail,
        remote_of(request),
        gateway_id=service.settings.gateway_id,
    )


async def get_audit(request: web.Request) -> web.Response:
    """The audit log since ?since_ms= (admin)."""
    require_scope(request, "admin")
    since = whole_number(request, "since_ms", 2**63 - 1) or 0
    storage = request.app[SERVICE].storage
    rows = await storage.run(lambda c: audit.load_audit(c, storage.database, since))
    return web.json_response({"audit": rows})


def setup_audit_trail(app: web.Application) -> None:
    """Add the audit log's route."""
    app.router.add_get("/v1/admin/audit", get_audit)

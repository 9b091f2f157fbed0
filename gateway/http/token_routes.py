"""Admin routes of access tokens: issue, list, revoke (each audited)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway import errors
from gateway.auth.tokens import MAX_EXPIRES_DAYS, new_token, revoke_token, save_token
from gateway.errors import GatewayError
from gateway.http.access import TOKENS, require_scope
from gateway.http.audit_trail import audit_request
from gateway.http.json_body import json_body
from gateway.http.keys import SERVICE
from gateway.security import audit


async def issue(request: web.Request) -> web.Response:
    """Issue a token: JSON {scope, seller_tin?, expires_days?, label?} → 201 with the token, shown once."""
    require_scope(request, "admin")
    body: Any = await json_body(request)
    if not isinstance(body, dict):
        raise GatewayError(errors.MALFORMED_REQUEST, "body must be a JSON object")
    days = body.get("expires_days")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int | float)):
        refused = f"expires_days must be a number of days, at most {MAX_EXPIRES_DAYS}"
        raise GatewayError(errors.MALFORMED_REQUEST, refused)
    label = body.get("label") or ""
    if not isinstance(label, str):
        raise GatewayError(errors.MALFORMED_REQUEST, "label must be a string")
    secret, token = new_token(
        str(body.get("scope", "")),
        str(body.get("seller_tin") or ""),
        expires_days=days,
        label=label,
    )
    service = request.app[SERVICE]
    await service.storage.run(lambda c: save_token(c, service.storage.database, token))
    request.app[TOKENS].put(token)
    detail = f"scope {token.scope} {token.seller_tin}"
    await audit_request(request, audit.TOKEN_ISSUED, token.token_id, detail)
    return web.json_response({"token": secret, **token.public()}, status=201)


async def list_tokens(request: web.Request) -> web.Response:
    """Every token (never the secret nor its hash)."""
    require_scope(request, "admin")
    return web.json_response({"tokens": [t.public() for t in request.app[TOKENS].all()]})


async def revoke(request: web.Request) -> web.Response:
    """Revoke a token: it stops working on this node at once, on others within RELOAD_INTERVAL_S."""
    require_scope(request, "admin")
    token = revoke_token(request.app[TOKENS].all(), request.match_info["token_id"])
    service = request.app[SERVICE]
    await service.storage.run(lambda c: save_token(c, service.storage.database, token))
    request.app[TOKENS].put(token)
    await audit_request(request, audit.TOKEN_REVOKED, token.token_id)
    return web.json_response(token.public())


def setup_token_routes(app: web.Application) -> None:
    """Add the token routes (setup_access loads the tokens they change)."""
    app.router.add_post("/v1/admin/tokens", issue)
    app.router.add_get("/v1/admin/tokens", list_tokens)
    app.router.add_post("/v1/admin/tokens/{token_id}/revoke", revoke)

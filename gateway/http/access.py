"""Bearer-token access: require_scope for routes, the token cache, and /v1/admin/tokens."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import web

from gateway import errors
from gateway.auth.tokens import Principal, TokenCache, load_tokens, new_token, revoke_token, save_token
from gateway.errors import GatewayError
from gateway.http.keys import SERVICE
from gateway.security import audit

log = logging.getLogger(__name__)

TOKENS = web.AppKey("access_tokens", TokenCache)
_RELOAD = web.AppKey("access_tokens_reload", asyncio.Task)
# Tokens revoked through another node reach this one within this many seconds.
RELOAD_INTERVAL_S = 5.0


def bearer_token(request: web.Request) -> str:
    """The bearer token of a request ('' if none)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def require_scope(request: web.Request, *scopes: str) -> Principal:
    """The request's principal if its scope is one of scopes (admin always passes); else 401/403."""
    principal = request.app[TOKENS].authenticate(bearer_token(request))
    if principal is None:
        raise GatewayError(errors.UNAUTHORIZED, "send Authorization: Bearer <token> (tracegate tokens issue)")
    if principal.scope != "admin" and principal.scope not in scopes:
        raise GatewayError(errors.FORBIDDEN, f"a {principal.scope} token cannot do this")
    return principal


async def _reload_forever(app: web.Application) -> None:
    service = app[SERVICE]
    while True:
        await asyncio.sleep(RELOAD_INTERVAL_S)
        try:
            tokens = await service.storage.run(lambda c: load_tokens(c, service.storage.database))
            app[TOKENS].replace_all(tokens)
        except Exception:  # storage down: keep the last known set, try again later
            log.warning("could not reload access tokens", exc_info=True)


async def _load(app: web.Application) -> None:
    service = app[SERVICE]
    tokens = await service.storage.run(lambda c: load_tokens(c, service.storage.database))
    app[TOKENS] = TokenCache(service.admin_token, tokens)
    app[_RELOAD] = asyncio.create_task(_reload_forever(app), name="access-token-reload")


async def _stop(app: web.Application) -> None:
    task = app.get(_RELOAD)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def issue(request: web.Request) -> web.Response:
    """Issue a token: JSON {scope, seller_tin?, expires_days?, label?} → 201 with the token, shown once."""
    require_scope(request, "admin")
    try:
        body: Any = await request.json()
    except ValueError:
        raise GatewayError(errors.MALFORMED_REQUEST, "body is not JSON") from None
    if not isinstance(body, dict):
        raise GatewayError(errors.MALFORMED_REQUEST, "body must be a JSON object")
    days = body.get("expires_days")
    if days is not None and not isinstance(days, int | float):
        raise GatewayError(errors.MALFORMED_REQUEST, "expires_days must be a number")
    secret, token = new_token(
        str(body.get("scope", "")),
        str(body.get("seller_tin") or ""),
        expires_days=days,
        label=str(body.get("label") or ""),
    )
    service = request.app[SERVICE]
    await service.storage.run(lambda c: save_token(c, service.storage.database, token))
    request.app[TOKENS].put(token)
    await _audit(request, audit.TOKEN_ISSUED, token.token_id, f"scope {token.scope} {token.seller_tin}")
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
    await _audit(request, audit.TOKEN_REVOKED, token.token_id)
    return web.json_response(token.public())


async def _audit(request: web.Request, action: str, target: str, detail: str = "") -> None:
    # Imported here: security_routes builds on this module (require_scope, TOKENS).
    from gateway.http.security_routes import audit_request

    await audit_request(request, action, target, detail)


def setup_access(app: web.Application) -> None:
    """Load tokens once the service runs (on_startup runs after cleanup contexts) and add token routes."""
    app.on_startup.append(_load)
    app.on_shutdown.append(_stop)
    app.router.add_post("/v1/admin/tokens", issue)
    app.router.add_get("/v1/admin/tokens", list_tokens)
    app.router.add_post("/v1/admin/tokens/{token_id}/revoke", revoke)

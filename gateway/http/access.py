"""Bearer-token access: require_scope for routes, the token cache, and /v1/admin/tokens."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from gateway import errors
from gateway.auth.tokens import Principal, TokenCache, load_tokens
from gateway.errors import GatewayError
from gateway.http.keys import SERVICE

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


def setup_access(app: web.Application) -> None:
    """Load tokens once the service runs (on_startup runs after cleanup contexts) and reload them."""
    app.on_startup.append(_load)
    app.on_shutdown.append(_stop)

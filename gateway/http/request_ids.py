"""Request ids: every request gets one (or keeps a sane X-Request-Id it brought), echoed and logged."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.observability.logs import REQUEST_ID
from gateway.security.random_ids import random_id

HEADER = "X-Request-Id"
_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")  # what a balancer or client would send; nothing to log-inject

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def request_id_for(incoming: str | None) -> str:
    """The caller's id if it is sane, else a new one."""
    if incoming and _SANE.match(incoming):
        return incoming
    return random_id()


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Set the id for this request's logs and echo it on the answer (errors included)."""
    request_id = request_id_for(request.headers.get(HEADER))
    # Not reset afterwards on purpose: aiohttp writes the access log line after the handler returns, in the
    # same task, and it should carry the id; the next request on the connection sets its own.
    REQUEST_ID.set(request_id)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers[HEADER] = request_id
        raise
    if not response.prepared:
        response.headers[HEADER] = request_id
    return response


def setup_request_ids(app: web.Application) -> None:
    """Install the middleware outermost, so every answer carries the id."""
    app.middlewares.insert(0, request_id_middleware)

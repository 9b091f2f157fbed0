"""The address a request came from, as rate limits and the audit log see it."""

from __future__ import annotations

from aiohttp import web

from gateway.http.keys import SETTINGS


def remote_of(request: web.Request) -> str:
    """The client's address; X-Forwarded-For (last hop added by a trusted proxy) only from trusted proxies."""
    peer = request.remote or ""
    trusted = {p.strip() for p in request.app[SETTINGS].trusted_proxies.split(",") if p.strip()}
    forwarded = request.headers.get("X-Forwarded-For", "")
    if peer in trusted and forwarded:
        return forwarded.split(",")[-1].strip()[:64]
    return peer

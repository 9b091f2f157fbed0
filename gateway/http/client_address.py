"""The address a request came from, as rate limits and the audit log see it."""

from __future__ import annotations

import functools

from aiohttp import web

from gateway.http.keys import SETTINGS


def remote_of(request: web.Request) -> str:
    """The client's address; X-Forwarded-For (last hop added by a trusted proxy) only from trusted proxies."""
    peer = request.remote or ""
    if peer not in _trusted(request.app[SETTINGS].trusted_proxies):
        return peer
    forwarded = request.headers.get("X-Forwarded-For", "")
    if forwarded:
        return forwarded.split(",")[-1].strip()[:64]
    return peer


@functools.lru_cache(maxsize=8)
def _trusted(setting: str) -> frozenset[str]:
    # Parsed once per setting, not on every request (this runs for each one, via the rate limits).
    return frozenset(p.strip() for p in setting.split(",") if p.strip())

"""Query-string values read strictly: what a filter could misread is refused, never taken for another."""

from __future__ import annotations

from aiohttp import web

from gateway import errors
from gateway.errors import GatewayError


def whole_number(request: web.Request, name: str, most: int = 2**32 - 1) -> int | None:
    """?name= as a whole number from 0 to most in ASCII digits (int() reads other scripts' too), or None."""
    raw = (request.query.get(name) or "").strip()
    if not raw:
        return None
    # The length first: int() of a few thousand digits raises (Python's limit on int from str), a 500.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(most)) or int(raw) > most:
        params = {"value": raw[:40], "most": most}
        raise GatewayError(errors.MALFORMED_REQUEST, key="error.not_a_whole_number", params=params)
    return int(raw)

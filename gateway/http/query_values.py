"""Query strings read strictly: what a filter could misread is refused, never taken for another.

A documented path takes the query parameters its OpenAPI operation names (every one names `lang`), each
once (an array parameter may repeat): a misspelt filter (`?seler=`) is a 400 naming it, not an unfiltered
answer, and `?tin=A&tin=B` is not silently one of the two. Only the API (/v1/) is checked: not the pages,
nor the consumer check (/check), whose links are printed as QR codes by each register vendor's firmware,
nor the two routes firmware posts to.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from gateway import errors
from gateway.errors import GatewayError
from gateway.http.errors import Handler

# What registers' firmware posts: a cache-buster or version tag some firmware adds must not stop its uploads.
DEVICE_ROUTES = frozenset((("POST", "/v1/batches"), ("POST", "/v1/codes/check")))
# What a path takes: (method, path as the OpenAPI document writes it) -> (names, names that may repeat).
Declared = dict[tuple[str, str], tuple[frozenset[str], frozenset[str]]]
_PATTERN = re.compile(r"\{(\w+):[^}]*\}")  # a route's {code:.+} is the document's {code}
_DECLARED: web.AppKey[Declared] = web.AppKey("declared_query_names", dict)


def declared_query_names(document: Mapping[str, Any]) -> Declared:
    """Each documented operation's query parameter names, and those of them that may be given more than
    once (an array)."""
    declared: Declared = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            query = [p for p in operation.get("parameters", ()) if p.get("in") == "query"]
            names = frozenset(p["name"] for p in query)
            repeated = frozenset(p["name"] for p in query if p.get("schema", {}).get("type") == "array")
            route = (method.upper(), path)
            # The API; not /check, whose QR links each register vendor writes, nor what firmware calls.
            if path.startswith("/v1/") and route not in DEVICE_ROUTES:
                declared[route] = (names, repeated)
    return declared


def check_query_names(request: web.Request, declared: Declared) -> None:
    """Refuse a query parameter the path does not take, or one given twice that takes one value."""
    if not request.query:  # every register's batch: nothing to look up
        return
    route = request.match_info.route
    if route.resource is None:
        return
    taken = declared.get((route.method, _PATTERN.sub(r"{\1}", route.resource.canonical)))
    if taken is None:
        return
    names, repeated = taken
    seen: set[str] = set()
    for name, _ in request.query.items():  # every pair: iterating the keys gives each name once
        if name not in names:
            # The name quoted to a bound, what cannot be printed (controls, direction marks) replaced.
            said = "".join(c if c.isprintable() else "\ufffd" for c in name[:40])
            params = {"name": said, "names": ", ".join(sorted(names))}
            raise GatewayError(errors.UNKNOWN_PARAMETER, key="error.query_unknown", params=params)
        if name in seen and name not in repeated:
            raise GatewayError(errors.REPEATED_PARAMETER, key="error.query_repeated", params={"name": name})
        seen.add(name)


def setup_query_names(app: web.Application, document: Mapping[str, Any]) -> None:
    """Check every documented route's query names before its handler (inside the error middleware)."""
    app[_DECLARED] = declared_query_names(document)

    @web.middleware
    async def query_names(request: web.Request, handler: Handler) -> web.StreamResponse:
        check_query_names(request, request.app[_DECLARED])
        return await handler(request)

    app.middlewares.append(query_names)


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

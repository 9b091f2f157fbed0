"""The one reader of JSON request bodies: anything that is not plain JSON is a 400, never a 500.

aiohttp's request.json() hands the text to json.loads, which raises RecursionError for a body nested a few
thousand deep (5 000 `{"a":` in an outside test gave a 500) and reads NaN and Infinity, which are not JSON
(RFC 8259), as floats that overflow further on (`"expires_days": Infinity`; 1e400 reads as infinity too).
Every JSON route reads its body here, so each refusal is said once.
"""

from __future__ import annotations

import json
import math
from typing import Any

from aiohttp import web

from gateway import errors
from gateway.errors import GatewayError


class _NotJson(ValueError):
    """A number JSON has no room for (NaN, Infinity, past a double's range): named in the answer."""


def _no_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotJson(f"the number {text[:40]} is out of range")
    return value


def _parse(text: str) -> Any:
    """A JSON text as Python values; malformed_request for what is not JSON or nested too deep to read."""
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        # json's C scanner gives up cleanly at the interpreter's recursion limit (about 1 000 levels).
        raise GatewayError(errors.MALFORMED_REQUEST, "the JSON body is nested too deeply") from None
    except _NotJson as exc:
        raise GatewayError(errors.MALFORMED_REQUEST, f"body is not JSON: {exc}") from None
    except ValueError:
        raise GatewayError(errors.MALFORMED_REQUEST, "body is not JSON") from None


async def json_body(request: web.Request) -> Any:
    """The request's JSON body (bounded by the app's client_max_size), or malformed_request."""
    try:
        text = await request.text()
    except UnicodeDecodeError:
        raise GatewayError(errors.MALFORMED_REQUEST, "body is not JSON") from None
    return _parse(text)

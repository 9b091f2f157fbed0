"""The one reader of JSON request bodies: anything that is not plain JSON is a 400, never a 500.

aiohttp's request.json() hands the text to json.loads, which raises RecursionError for a body nested a few
thousand deep (5 000 `{"a":` in an outside test gave a 500) and reads NaN and Infinity, which are not JSON
(RFC 8259), as floats that overflow further on (`"expires_days": Infinity`; 1e400 reads as infinity too).
It also reads an escaped lone surrogate ("\\ud800") as a str that cannot be encoded, so a note or a token
label holding one failed at the storage insert (a 500): such strings are refused here, keys and values alike.
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


def _all_text(value: Any) -> None:
    """Refuse a string anywhere in a parsed body (key or value, at any depth) that is not Unicode text."""
    pending = [value]
    while pending:  # a loop, not recursion: the body may be nested as deep as json.loads allows
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                refused = "the JSON body holds a string that is not Unicode text (a lone surrogate escape)"
                raise GatewayError(errors.MALFORMED_REQUEST, refused) from None
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


async def json_body(request: web.Request) -> Any:
    """The request's JSON body (bounded by the app's client_max_size), or malformed_request."""
    try:
        text = await request.text()
    except (UnicodeDecodeError, LookupError):  # LookupError: a charset Python does not know
        raise GatewayError(errors.MALFORMED_REQUEST, "body is not JSON") from None
    body = _parse(text)
    _all_text(body)  # always: a charset such as raw_unicode_escape decodes to a surrogate with no \u escape
    return body

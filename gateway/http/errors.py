"""The one place where domain errors become HTTP answers: stable code, status, human text, no internals."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from clickhouse_connect.driver import exceptions as ch_exceptions

from gateway import errors
from gateway.errors import ErrorCode, GatewayError
from gateway.i18n import COOKIE, negotiate
from gateway.storage.errors import to_gateway_error

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# aiohttp's own HTTP exceptions (routing, size limits) mapped to our stable codes.
_AIOHTTP_STATUS_CODES = {
    404: errors.NOT_FOUND,
    405: errors.METHOD_NOT_ALLOWED,
    413: errors.BODY_TOO_LARGE,
}


def error_response(
    error: ErrorCode, detail: str | None = None, retry_after_s: int | None = None
) -> web.Response:
    """A JSON error answer: {"error", "detail", "retryable"} with the code's HTTP status."""
    response = web.json_response(
        {"error": error.code, "detail": detail or error.summary, "retryable": error.retryable},
        status=error.http_status,
    )
    if retry_after_s is not None:
        response.headers["Retry-After"] = str(retry_after_s)
    return response


def lang_of(request: web.Request) -> str:
    """The reader's language: ?lang=, the pages' switch (cookie), Accept-Language, else English."""
    q, headers = request.query, request.headers
    return negotiate(q.get("lang"), request.cookies.get(COOKIE), headers.get("Accept-Language"))


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn GatewayError and aiohttp errors into JSON answers; log anything unexpected, show nothing raw."""
    try:
        return await handler(request)
    except GatewayError as exc:
        return error_response(exc.error, exc.text(lang_of(request)), exc.retry_after_s)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error = _AIOHTTP_STATUS_CODES.get(exc.status)
        if error is None:
            return error_response(errors.MALFORMED_REQUEST, exc.reason)
        response = error_response(error)
        if "Allow" in exc.headers:  # 405: the methods the path does take
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except ch_exceptions.Error as exc:
        # Routes that call storage directly (admin, queries): an outage is 503 + Retry-After, not a 500.
        mapped = to_gateway_error(exc)
        if not mapped.error.retryable:
            log.exception("storage error on %s %s", request.method, request.path)
        return error_response(mapped.error, mapped.detail, mapped.retry_after_s)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(errors.INTERNAL)


def setup_errors(app: web.Application) -> None:
    """Install the error middleware (first, so it wraps every other)."""
    app.middlewares.insert(0, error_middleware)

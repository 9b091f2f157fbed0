"""Rate limits (address, token, device, verify and check pages); client certificates on device paths."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway import errors
from gateway.errors import GatewayError
from gateway.http.access import TOKENS, bearer_token
from gateway.http.client_address import remote_of
from gateway.http.keys import SETTINGS
from gateway.security.rate_limits import RateLimiter
from gateway.wire import pb

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REMOTE_LIMITS = web.AppKey("remote_limits", RateLimiter)
TOKEN_LIMITS = web.AppKey("token_limits", RateLimiter)
DEVICE_LIMITS = web.AppKey("device_limits", RateLimiter)
VERIFY_LIMITS = web.AppKey("verify_limits", RateLimiter)
CHECK_LIMITS = web.AppKey("check_limits", RateLimiter)
UNPROVEN_LIMITS = web.AppKey("unproven_limits", RateLimiter)  # refusals journalled, by address
DEVICE_PATHS = ("/v1/batches", "/v1/codes/check")


def check_device_rate(request: web.Request, batch: pb.IngestBatch) -> None:
    """Raise rate_limited if any device of the batch sends batches faster than its rate."""
    limiter = request.app[DEVICE_LIMITS]
    # envelopes[:] (a list): upb's repeated fields have no __iter__, a plain loop ends on an IndexError.
    for device_id in sorted({e.device_id for e in batch.envelopes[:]})[:64]:
        limiter.check(device_id, "device")


@web.middleware
async def limits_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Per-address and per-token rate limits, and client certificates on device endpoints if required."""
    request.app[REMOTE_LIMITS].check(remote_of(request), "address")
    token = bearer_token(request)
    # A bucket per token that authenticates, by its id: a string that is no token gets none (it is
    # answered 401 under the address's limit), so a flood of made-up tokens holds no memory.
    principal = request.app[TOKENS].authenticate(token) if token else None
    if principal is not None:
        request.app[TOKEN_LIMITS].check(principal.token_id, "token")
    needs_cert = request.app[SETTINGS].tls_client_ca_file and request.path in DEVICE_PATHS
    if needs_cert and (request.transport is None or not request.transport.get_extra_info("peercert")):
        raise GatewayError(errors.CLIENT_CERT_REQUIRED)
    return await handler(request)


def setup_limits(app: web.Application) -> None:
    """The limiters from the settings, and their middleware right after the error middleware."""
    settings = app[SETTINGS]
    app[REMOTE_LIMITS] = RateLimiter(settings.rate_remote_per_s, settings.rate_remote_burst)
    app[TOKEN_LIMITS] = RateLimiter(settings.rate_token_per_s, settings.rate_token_burst)
    app[DEVICE_LIMITS] = RateLimiter(settings.rate_device_per_s, settings.rate_device_burst)
    app[VERIFY_LIMITS] = RateLimiter(settings.rate_verify_per_s, settings.rate_verify_burst)
    app[CHECK_LIMITS] = RateLimiter(settings.rate_check_per_s, settings.rate_check_burst)
    app[UNPROVEN_LIMITS] = RateLimiter(settings.rate_unproven_per_s, settings.rate_unproven_burst)
    app.middlewares.insert(1, limits_middleware)

"""Security routes and middleware: rate limits, client certificates, audit, revoke-from-seq, pii forget."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gateway import errors
from gateway.devices import revoked
from gateway.errors import GatewayError
from gateway.http.access import TOKENS, bearer_token, require_scope
from gateway.http.keys import SERVICE, SETTINGS
from gateway.security import audit
from gateway.security.device_keys import flag_signed_after
from gateway.security.pii_erasure import count_in_journal, forget, forget_set_aside, lookup_hashes
from gateway.security.pii_keys import PiiKeyRing, load_key_ring
from gateway.security.rate_limits import RateLimiter
from gateway.storage.device_store import save_device
from gateway.storage.key_history_store import record_revocation
from gateway.wire import pb

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REMOTE_LIMITS = web.AppKey("remote_limits", RateLimiter)
TOKEN_LIMITS = web.AppKey("token_limits", RateLimiter)
DEVICE_LIMITS = web.AppKey("device_limits", RateLimiter)
VERIFY_LIMITS = web.AppKey("verify_limits", RateLimiter)
CHECK_LIMITS = web.AppKey("check_limits", RateLimiter)
PII_KEYS = web.AppKey("pii_keys", PiiKeyRing)
DEVICE_PATHS = ("/v1/batches", "/v1/codes/check")
FORGET_WAIT_S = 10.0  # how long pii forget waits for the journal to ship what it holds


def remote_of(request: web.Request) -> str:
    """The client's address; X-Forwarded-For (last hop added by a trusted proxy) only from trusted proxies."""
    peer = request.remote or ""
    trusted = {p.strip() for p in request.app[SETTINGS].trusted_proxies.split(",") if p.strip()}
    forwarded = request.headers.get("X-Forwarded-For", "")
    if peer in trusted and forwarded:
        return forwarded.split(",")[-1].strip()[:64]
    return peer


async def audit_request(request: web.Request, action: str, target: str, detail: str = "") -> None:
    """Write the audit row of an admin action made by this request."""
    service = request.app[SERVICE]
    principal: Any = None
    token = bearer_token(request)
    if token and token != service.admin_token:
        principal = request.app[TOKENS].authenticate(token)
    await audit.record(
        service.storage,
        principal,
        action,
        target,
        detail,
        remote_of(request),
        gateway_id=service.settings.gateway_id,
    )


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


async def get_audit(request: web.Request) -> web.Response:
    """The audit log since ?since_ms= (admin)."""
    require_scope(request, "admin")
    try:
        since = int(request.query.get("since_ms", "0"))
    except ValueError:
        raise GatewayError(errors.MALFORMED_REQUEST, "since_ms must be a whole number") from None
    storage = request.app[SERVICE].storage
    rows = await storage.run(lambda c: audit.load_audit(c, storage.database, since))
    return web.json_response({"audit": rows})


async def revoke_from(request: web.Request) -> web.Response:
    """Revoke a device's key as compromised from seq N on: new events rejected, stored ones flagged."""
    require_scope(request, "admin")
    try:
        body = await request.json()
        from_seq = int(body["from_seq"])
    except (ValueError, KeyError, TypeError):
        raise GatewayError(errors.MALFORMED_REQUEST, 'body must be {"from_seq": N}') from None
    service = request.app[SERVICE]
    device = service.registry.get(request.match_info["device_id"])
    if device is None or from_seq < 1:
        raise GatewayError(errors.NOT_FOUND if device is None else errors.MALFORMED_REQUEST)
    gone = revoked(device)
    db = service.storage.database
    await service.storage.run(lambda c: record_revocation(c, db, gone, from_seq))
    await service.storage.run(lambda c: save_device(c, db, gone))
    service.registry.put(gone)
    now_ms = int(time.time() * 1000)
    flagged = await service.storage.run(lambda c: flag_signed_after(c, db, gone.device_id, from_seq, now_ms))
    await audit_request(
        request,
        audit.DEVICE_REVOKED,
        gone.device_id,
        f"compromised from seq {from_seq}; {flagged} stored events flagged",
    )
    return web.json_response({"device_id": gone.device_id, "status": gone.status, "flagged": flagged})


async def pii_forget(request: web.Request) -> web.Response:
    """Erase a person's buyer data: JSON {email?, phone?, iin?} → {"erased", "remaining", "unshipped",
    "sealed_in_journal"} (pii_erasure.py says what each counts; remaining 0 proves the erasure)."""
    require_scope(request, "admin")
    try:
        body = await request.json()
    except ValueError:
        raise GatewayError(errors.MALFORMED_REQUEST, "body is not JSON") from None
    if not isinstance(body, dict):
        raise GatewayError(errors.MALFORMED_REQUEST, "body must be a JSON object")
    contacts = {k: str(body.get(k) or "") for k in ("email", "phone", "iin")}
    try:
        hashes = lookup_hashes(request.app[PII_KEYS], contacts)
    except ValueError:
        raise GatewayError(errors.MALFORMED_REQUEST, "give at least one of email, phone, iin") from None
    service = request.app[SERVICE]
    journal, shipper = service.journal, service.shipper
    # What the journal holds now reaches storage first (a second or so), so the deletion covers it.
    until = journal.end_position
    await shipper.wait_shipped(until, FORGET_WAIT_S)
    journal.request_rotation()  # so shipped segments holding sealed copies are deleted soon
    result = await service.storage.run(lambda c: forget(c, service.storage.database, hashes))
    set_aside = await asyncio.to_thread(forget_set_aside, shipper.quarantine, hashes)
    shipped = min(shipper.checkpoint.shipped, until)
    unshipped = await asyncio.to_thread(count_in_journal, journal, shipped, until, hashes)
    on_disk = await asyncio.to_thread(count_in_journal, journal, journal.oldest_position, shipped, hashes)
    answer = {
        "erased": result["erased"] + set_aside,
        "remaining": result["remaining"] + unshipped,
        "unshipped": unshipped,
        "sealed_in_journal": on_disk,
    }
    # The audit names neither the person nor the contact: only which kinds were given and the counts.
    given = ",".join(k for k, v in contacts.items() if v)
    detail = f"{answer['erased']} receipts, {answer['remaining']} remaining"
    await audit_request(request, audit.DATA_ERASED, f"buyer by {given}", detail)
    return web.json_response(answer)


async def _load_keys(app: web.Application) -> None:
    app[PII_KEYS] = load_key_ring(app[SETTINGS])


def setup_security(app: web.Application) -> None:
    """Install the limits middleware (right after the error middleware) and the security routes."""
    settings = app[SETTINGS]
    app[REMOTE_LIMITS] = RateLimiter(settings.rate_remote_per_s, settings.rate_remote_burst)
    app[TOKEN_LIMITS] = RateLimiter(settings.rate_token_per_s, settings.rate_token_burst)
    app[DEVICE_LIMITS] = RateLimiter(settings.rate_device_per_s, settings.rate_device_burst)
    app[VERIFY_LIMITS] = RateLimiter(settings.rate_verify_per_s, settings.rate_verify_burst)
    app[CHECK_LIMITS] = RateLimiter(settings.rate_check_per_s, settings.rate_check_burst)
    app.middlewares.insert(1, limits_middleware)
    app.on_startup.append(_load_keys)
    app.router.add_get("/v1/admin/audit", get_audit)
    app.router.add_post("/v1/admin/devices/{device_id}/revoke-from", revoke_from)
    app.router.add_post("/v1/admin/pii/forget", pii_forget)

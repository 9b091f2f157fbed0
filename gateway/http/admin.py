"""Operator routes under /v1/admin/: devices (add, list, revoke) and status, behind the admin token."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway import errors
from gateway.auth.tokens import Principal
from gateway.devices import Device, new_device, registration_decision, revoked
from gateway.errors import GatewayError
from gateway.http.access import require_scope
from gateway.http.audit_trail import audit_request
from gateway.http.json_body import json_body
from gateway.http.keys import SERVICE
from gateway.ofd import registration as ofd_registration
from gateway.query.sql import readonly_query
from gateway.query.summary import ingest_summary
from gateway.security import audit
from gateway.storage.device_store import save_device
from gateway.storage.errors import classify


def require_admin(request: web.Request) -> Principal:
    """The principal, if it holds the admin scope (the admin.token file or an admin token); else 401/403."""
    return require_scope(request, "admin")


def device_json(device: Device) -> dict[str, Any]:
    """The public view of a device."""
    return {
        "device_id": device.device_id,
        "seller_tin": device.seller_tin,
        "store_id": device.store_id,
        "key_id": device.key_id,
        "status": device.status,
        "updated_ms": device.updated_ms,
        "public_key_pem": device.public_key_pem,
        **ofd_registration.registration_json(device),
    }


def parse_new_device(body: Any) -> Device:
    """Validate an add-device request body into a Device (raises malformed_request with what is wrong)."""
    if not isinstance(body, dict):
        raise GatewayError(errors.MALFORMED_REQUEST, "body must be a JSON object")
    fields = {k: body.get(k) for k in ("device_id", "seller_tin", "store_id", "public_key_pem")}
    missing = [k for k, v in fields.items() if not isinstance(v, str) or not v.strip()]
    if missing:
        raise GatewayError(errors.MALFORMED_REQUEST, f"missing or empty: {', '.join(missing)}")
    return new_device(**{k: str(v) for k, v in fields.items()})


async def add_device(request: web.Request) -> web.Response:
    """Register a device, or a revoked one under a new key: 201; 200 if registered already; 409 conflict.

    With "protocol": "ofd" an OFD register (ofd_id, kgd_number, ofd_token or none: one is made and
    answered once); the gateway holds its key.
    """
    require_admin(request)
    body = await json_body(request)
    service = request.app[SERVICE]
    made: int | None = None
    if isinstance(body, dict) and body.get("protocol", "tracegate") == "ofd":
        registration = ofd_registration.parse_registration(body)
        existing = service.registry.get(registration.device_id)
        to_save, device, made = ofd_registration.register(service.registry, registration, service.ofd_keys)
    elif isinstance(body, dict) and body.get("protocol", "tracegate") != "tracegate":
        raise GatewayError(errors.MALFORMED_REQUEST, "protocol must be tracegate or ofd")
    else:
        device = parse_new_device(body)
        existing = service.registry.get(device.device_id)
        to_save = registration_decision(existing, device, service.registry.revoked_keys(device.device_id))
    if to_save is None:
        assert existing is not None
        return web.json_response(device_json(existing), status=200)
    await service.storage.run(lambda c: save_device(c, service.storage.database, to_save))
    service.registry.put(to_save)
    action = "new key after revocation" if existing is not None else "registered"
    await audit_request(request, audit.DEVICE_ADDED, to_save.device_id, f"{action}, key {to_save.key_id}")
    return web.json_response(device_json(to_save) | ofd_registration.registration_json(to_save, made),
                             status=201)


async def set_ofd_token(request: web.Request) -> web.Response:
    """Give an OFD register a new token (after it was reset, or after INVALID_TOKEN): {"ofd_token": N} or
    {} to make one (answered once). The register's next request must come with it."""
    require_admin(request)
    body = await json_body(request) if request.can_read_body else {}
    if not isinstance(body, dict):
        raise GatewayError(errors.MALFORMED_REQUEST, "body must be a JSON object")
    service = request.app[SERVICE]
    device = service.registry.get(request.match_info["device_id"])
    if device is None:
        raise GatewayError(errors.NOT_FOUND, "no such device")
    given = body.get("ofd_token")
    token = ofd_registration.new_token() if given in (None, "") else ofd_registration.parse_token(given)
    updated = ofd_registration.with_token(device, token, service.ofd_keys)
    await service.storage.run(lambda c: save_device(c, service.storage.database, updated))
    service.registry.put(updated)
    await audit_request(request, audit.DEVICE_TOKEN_SET, updated.device_id, "new OFD token")
    made = token if given in (None, "") else None
    return web.json_response(device_json(updated) | ofd_registration.registration_json(updated, made))


async def list_devices(request: web.Request) -> web.Response:
    """Every registered device."""
    require_admin(request)
    return web.json_response({"devices": [device_json(d) for d in request.app[SERVICE].registry.all()]})


async def revoke_device(request: web.Request) -> web.Response:
    """Revoke a device: its events are rejected from now on."""
    require_admin(request)
    service = request.app[SERVICE]
    device = service.registry.get(request.match_info["device_id"])
    if device is None:
        raise GatewayError(errors.NOT_FOUND, "no such device")
    revoked_device = revoked(device)
    await service.storage.run(lambda c: save_device(c, service.storage.database, revoked_device))
    service.registry.put(revoked_device)
    await audit_request(request, audit.DEVICE_REVOKED, revoked_device.device_id)
    return web.json_response(device_json(revoked_device))


async def get_summary(request: web.Request) -> web.Response:
    """What was ingested and stored, read back from ClickHouse (used by the demo)."""
    require_admin(request)
    service = request.app[SERVICE]
    summary = await ingest_summary(service.storage)
    summary["shipper"] = service.shipper.stats()
    summary["journal_unshipped_bytes"] = service.journal.unshipped_bytes()
    return web.json_response(summary)


async def post_sql(request: web.Request) -> web.Response:
    """Run one read-only SQL query for the operator; ClickHouse's own error text is returned to them."""
    require_admin(request)
    body = await json_body(request)
    query = body.get("query") if isinstance(body, dict) else None
    if not isinstance(query, str) or not query.strip():
        raise GatewayError(errors.MALFORMED_REQUEST, 'body must be {"query": "SELECT …"}')
    try:
        result = await readonly_query(request.app[SERVICE].storage, query)
    except Exception as exc:
        failure = classify(exc)
        # A write refused by the read-only session is the operator's doing, not storage being read-only.
        if failure.code is None or (failure.retryable and failure.name != "READONLY"):
            raise  # storage unreachable or busy (503 + Retry-After), or a bug: the error middleware's
        # ClickHouse refused the query itself (syntax, unknown column, a write): the operator's to fix.
        raise GatewayError(errors.MALFORMED_REQUEST, str(exc).splitlines()[0][:500]) from None
    return web.json_response(result)


def setup_admin(app: web.Application) -> None:
    """Add the operator routes."""
    app.router.add_post("/v1/admin/devices", add_device)
    app.router.add_get("/v1/admin/devices", list_devices)
    app.router.add_post("/v1/admin/devices/{device_id}/revoke", revoke_device)
    app.router.add_post("/v1/admin/devices/{device_id}/ofd-token", set_ofd_token)
    app.router.add_get("/v1/admin/summary", get_summary)
    app.router.add_post("/v1/admin/sql", post_sql)

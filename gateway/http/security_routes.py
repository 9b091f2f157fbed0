"""Security admin routes: revoke a device from a seq on, erase a buyer's data (pii forget)."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from gateway import errors
from gateway.devices import revoked
from gateway.errors import GatewayError
from gateway.http.access import require_scope
from gateway.http.audit_trail import audit_request
from gateway.http.json_body import json_body
from gateway.http.keys import SERVICE, SETTINGS
from gateway.security import audit
from gateway.security.device_keys import flag_signed_after
from gateway.security.pii_erasure import count_in_journal, forget, forget_set_aside, lookup_hashes
from gateway.security.pii_keys import PiiKeyRing, load_key_ring
from gateway.storage.device_store import save_device
from gateway.storage.key_history_store import record_revocation

PII_KEYS = web.AppKey("pii_keys", PiiKeyRing)
FORGET_WAIT_S = 10.0  # how long pii forget waits for the journal to ship what it holds


async def revoke_from(request: web.Request) -> web.Response:
    """Revoke a device's key as compromised from seq N on: new events rejected, stored ones flagged."""
    require_scope(request, "admin")
    body = await json_body(request)
    # A JSON integer only: int() read true as 1 (and revoked), "5" and 5.9 too, and 400 nines failed later.
    from_seq = body.get("from_seq") if isinstance(body, dict) else None
    if isinstance(from_seq, bool) or not isinstance(from_seq, int) or not 1 <= from_seq <= 2**63 - 1:
        refused = 'body must be {"from_seq": N}, N a whole number from 1 to 9223372036854775807'
        raise GatewayError(errors.MALFORMED_REQUEST, refused)
    service = request.app[SERVICE]
    device = service.registry.get(request.match_info["device_id"])
    if device is None:
        raise GatewayError(errors.NOT_FOUND)
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
    body = await json_body(request)
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
    """Load the PII key ring at start and add the revocation and erasure routes."""
    app.on_startup.append(_load_keys)
    app.router.add_post("/v1/admin/devices/{device_id}/revoke-from", revoke_from)
    app.router.add_post("/v1/admin/pii/forget", pii_forget)

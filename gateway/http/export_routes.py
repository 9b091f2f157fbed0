"""Audit export over HTTP: GET /v1/export streams the file, GET /v1/export/key the key that signs it."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re

from aiohttp import web

from gateway.export.format import MEDIA_TYPE
from gateway.export.writer import ExportSigner
from gateway.http.access import require_scope
from gateway.http.audit_trail import audit_request
from gateway.http.keys import SERVICE, SETTINGS
from gateway.http.security_routes import PII_KEYS
from gateway.query.export import export_chunks, parse_request
from gateway.query.read_side import Reads
from gateway.security import audit
from gateway.wire import signing

log = logging.getLogger(__name__)

EXPORT_SIGNER = web.AppKey("export_signer", ExportSigner)
EVENTS_HEADER = "X-Export-Events"  # events the file will hold (for a progress bar)


def _filename(names: list[str]) -> str:
    """tracegate-export-<what>-<date>.jsonl, with only safe characters."""
    what = re.sub(r"[^A-Za-z0-9._-]+", "_", "+".join(names))[:80] or "export"
    return f"tracegate-export-{what}-{dt.datetime.now(dt.UTC):%Y%m%d}.jsonl"


async def get_export(request: web.Request) -> web.StreamResponse:
    """One device's (or a seller's devices') history as a signed export file, streamed page by page."""
    principal = require_scope(request, "analyst", "retailer")
    wanted = parse_request(request.query, request.query.getall("device", []))
    service = request.app[SERVICE]
    storage = service.storage
    plans = await Reads(storage, principal).exports.plan(wanted)
    events = sum(p.events for p in plans)
    names = [p.entry.device_id for p in plans] if wanted.device_ids else [str(wanted.seller_tin)]
    await audit_request(
        request, audit.EXPORTED, ",".join(names)[:256], f"{len(plans)} device(s), {events} events"
    )
    chunks = export_chunks(
        storage.run_sync,
        storage.database,
        plans,
        signer=request.app[EXPORT_SIGNER],
        gateway_id=service.settings.gateway_id,
        exported_by={"principal": principal.token_id, "scope": principal.scope},
        request=wanted,
        ring=request.app[PII_KEYS],
    )
    response = web.StreamResponse(
        headers={
            "Content-Type": f"{MEDIA_TYPE}; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{_filename(names)}"',
            EVENTS_HEADER: str(events),
        }
    )
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    try:
        # Pages are read and formatted off the event loop.
        while (chunk := await loop.run_in_executor(None, next, chunks, None)) is not None:
            await response.write(chunk)
    except ConnectionResetError:
        log.info("export of %s abandoned by the client", ",".join(names)[:200])
        return response
    except Exception:
        # Too late for an error answer: the connection is cut, and the file lacks its manifest, which
        # `tracegate export` and any verifier report as an incomplete file.
        log.exception("export of %s failed half-way", ",".join(names)[:200])
        if request.transport is not None:
            request.transport.close()
        return response
    await response.write_eof()
    return response


async def get_export_key(request: web.Request) -> web.Response:
    """The public half of the export key (anyone may fetch it, to pin it: tracegate verify --export-key)."""
    signer = request.app[EXPORT_SIGNER]
    return web.json_response(
        {
            "key_id": signer.key_id,
            "algorithm": "ES256",
            "public_key": signer.public_key.hex(),
            "public_key_pem": signing.public_key_pem(signing.load_public_key_point(signer.public_key)),
        }
    )


async def _load_signer(app: web.Application) -> None:
    app[EXPORT_SIGNER] = ExportSigner.load_or_create(app[SETTINGS].export_key_file)


def setup_export_routes(app: web.Application) -> None:
    """Add the export routes; the export key is loaded (or made, 0600) at start."""
    app.on_startup.append(_load_signer)
    app.router.add_get("/v1/export", get_export)
    app.router.add_get("/v1/export/key", get_export_key)

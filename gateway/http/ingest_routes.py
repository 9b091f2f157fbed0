"""Register-facing routes: POST /v1/batches (protobuf in and out) and GET /v1/verify (fiscal sign check)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from gateway import errors
from gateway.errors import GatewayError
from gateway.http.client_address import remote_of
from gateway.http.keys import SERVICE
from gateway.http.limits import UNPROVEN_LIMITS, VERIFY_LIMITS, check_device_rate
from gateway.http.query_values import whole_number
from gateway.query.verify import verify_fiscal_sign
from gateway.wire import pb

PROTOBUF = "application/x-protobuf"
_PROTOBUF_TYPES = {PROTOBUF, "application/protobuf", "application/octet-stream"}


async def read_protobuf_body(request: web.Request, max_bytes: int) -> bytes:
    """The request body, after checking its content type and size; never reads more than max_bytes + 1."""
    if request.content_type not in _PROTOBUF_TYPES:
        raise GatewayError(errors.UNSUPPORTED_MEDIA_TYPE, f"Content-Type must be {PROTOBUF}")
    if request.content_length is not None and request.content_length > max_bytes:
        raise GatewayError(errors.BODY_TOO_LARGE, f"body is larger than {max_bytes} bytes")
    content = request.content
    if content.is_eof():
        # The whole body came with the headers (the usual batch): take it as it is, with no read loop
        # and no timer to arm and cancel (~10 µs a request).
        body = content.read_nowait(max_bytes + 1)
    else:
        body = await _read_arriving_body(request, max_bytes)
    if len(body) > max_bytes:
        raise GatewayError(errors.BODY_TOO_LARGE, f"body is larger than {max_bytes} bytes")
    if not body:
        raise GatewayError(errors.EMPTY_BODY)
    return body


async def _read_arriving_body(request: web.Request, max_bytes: int) -> bytes:
    """The body as it arrives, to the end or past max_bytes, within the body read timeout."""
    # StreamReader.read(n) returns what has arrived so far, not n bytes: read to the end (or past the limit).
    chunks: list[bytes] = []
    size = 0
    # A sender trickling bytes would otherwise hold a connection and a handler for ever.
    timeout_s = request.app[SERVICE].settings.body_read_timeout_s
    try:
        async with asyncio.timeout(timeout_s):
            while size <= max_bytes:
                chunk = await request.content.read(max_bytes + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
    except TimeoutError:
        detail = f"the body did not arrive within {timeout_s:g} s"
        raise GatewayError(errors.REQUEST_TIMEOUT, detail) from None
    return b"".join(chunks)


def check_named_device(request: web.Request, batch: pb.IngestBatch) -> None:
    """A batch carries the envelopes of the device X-Device-Id names (proto/README.md): a load balancer
    keeps a device on one node by that header, where its chain is checked, so another device's envelopes
    must not ride along."""
    named = request.headers.getall("X-Device-Id", [])
    if not named:
        return
    if len(named) > 1:  # a balancer may route by the first, the gateway must not judge by another
        raise GatewayError(errors.DEVICE_MISMATCH, "X-Device-Id is given more than once")
    for number, envelope in enumerate(batch.envelopes[:], start=1):
        if envelope.device_id != named[0]:
            # Neither id is echoed (error texts never echo input): the envelope's number says which.
            detail = f"envelope {number} is for another device than X-Device-Id"
            raise GatewayError(errors.DEVICE_MISMATCH, detail)


async def post_batch(request: web.Request) -> web.Response:
    """Ingest one batch of envelopes; answers an IngestAck with one status per envelope."""
    service = request.app[SERVICE]
    body = await read_protobuf_body(request, service.settings.limits.max_body_bytes)
    batch = service.pipeline.decode_batch(body)
    check_named_device(request, batch)
    check_device_rate(request, batch)
    # Refusals not proven to come from the device they name are journalled within the sender's budget.
    unproven, address = request.app[UNPROVEN_LIMITS], remote_of(request)
    ack = await service.pipeline.ingest(batch, record_unproven=lambda: unproven.take(address) == 0.0)
    return web.Response(body=ack.SerializeToString(), content_type=PROTOBUF)


async def get_verify(request: web.Request) -> web.Response:
    """Check a printed fiscal sign: ?device_id=…&seq=…&fiscal_sign=… → {"valid": …, the event's facts}."""
    # Open to anyone: limited per address, so nobody can try signs (or device ids) by the thousand.
    request.app[VERIFY_LIMITS].check(remote_of(request), "address")
    query = request.query
    device_id = query.get("device_id", "")
    fiscal_sign = query.get("fiscal_sign", "")
    seq = whole_number(request, "seq", 2**64 - 1)  # ASCII digits only: int() took "１" as 1
    if not device_id or not fiscal_sign or not seq:
        raise GatewayError(errors.MALFORMED_REQUEST, "device_id, seq (1 or more) and fiscal_sign are needed")
    result = await verify_fiscal_sign(request.app[SERVICE], device_id, seq, fiscal_sign)
    return web.json_response(result)


def setup_ingest_routes(app: web.Application) -> None:
    """Add the register-facing routes."""
    app.router.add_post("/v1/batches", post_batch)
    app.router.add_get("/v1/verify", get_verify)

"""A test double of the gateway's POST /v1/batches and POST /v1/admin/devices, for uploader tests only.

It checks seq order per device (not signatures: the real gateway's tests do that), answers DUPLICATE
with the first fiscal sign for resends, and can be told to fail the next requests in scripted ways.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

from gateway.wire import pb


@dataclass
class FakeGateway:
    """State and scripted faults of the fake."""

    bodies: list[bytes] = field(default_factory=list)
    heads: dict[str, int] = field(default_factory=dict)
    signs: dict[tuple[str, int], str] = field(default_factory=dict)
    accepted_order: list[tuple[str, int]] = field(default_factory=list)
    faults: list[tuple[str, object]] = field(default_factory=list)  # ("503", retry_after) | ("hang", s)
    reject: dict[int, bool] = field(default_factory=dict)  # seq -> retryable, rejected once
    devices: dict[str, str] = field(default_factory=dict)
    url: str = ""

    async def batches(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.bodies.append(body)
        if self.faults:
            kind, value = self.faults.pop(0)
            if kind == "503":
                return web.json_response(
                    {"error": "backpressure", "detail": "full", "retryable": True},
                    status=503, headers={"Retry-After": str(value)},
                )
            if kind == "hang":
                await asyncio.sleep(float(value))  # type: ignore[arg-type]
        ack = pb.IngestAck()
        for envelope in pb.IngestBatch.FromString(body).envelopes:
            ack.acks.append(self._answer(envelope))
        return web.Response(body=ack.SerializeToString(), content_type="application/x-protobuf")

    def _answer(self, envelope: pb.Envelope) -> pb.EventAck:
        device, seq = envelope.device_id, envelope.seq
        answer = pb.EventAck(device_id=device, seq=seq)
        head = self.heads.get(device, 0)
        if seq <= head:
            answer.status = pb.DUPLICATE
            answer.fiscal_sign = self.signs[(device, seq)]
        elif seq != head + 1:
            answer.status = pb.REJECTED
            answer.retryable = True
            answer.error_code = "seq_gap"
        elif seq in self.reject:
            answer.status = pb.REJECTED
            answer.retryable = self.reject.pop(seq)
            answer.error_code = "seq_gap" if answer.retryable else "bad_signature"
            if not answer.retryable:  # dropped by the device: the fake moves its head past it
                self.heads[device] = seq
                self.signs[(device, seq)] = ""
        else:
            answer.status = pb.ACCEPTED
            answer.fiscal_sign = hashlib.sha256(envelope.SerializeToString()).hexdigest()[:12]
            self.heads[device] = seq
            self.signs[(device, seq)] = answer.fiscal_sign
            self.accepted_order.append((device, seq))
        return answer

    async def add_device(self, request: web.Request) -> web.Response:
        body = await request.json()
        if request.headers.get("Authorization") != "Bearer secret":
            return web.json_response({"error": "unauthorized"}, status=401)
        known = self.devices.get(body["device_id"])
        if known is not None and known != body["public_key_pem"]:
            return web.json_response({"error": "conflict"}, status=409)
        self.devices[body["device_id"]] = body["public_key_pem"]
        return web.json_response(body, status=201)


@asynccontextmanager
async def running_fake() -> AsyncIterator[FakeGateway]:
    """Serve a FakeGateway on a free loopback port for the duration of the block."""
    fake = FakeGateway()
    app = web.Application()
    app.router.add_post("/v1/batches", fake.batches)
    app.router.add_post("/v1/admin/devices", fake.add_device)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        await runner.cleanup()

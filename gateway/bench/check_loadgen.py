"""Pre-sale check load: signed `POST /v1/codes/check` requests sent open loop at a fixed rate from a
process of their own, each timed from its *scheduled* moment (a late answer never delays the next one).

The client is a bare HTTP/1.1 keep-alive asyncio.Protocol over a pool of connections, not aiohttp: at
2,000 checks/s aiohttp's client cost about as much CPU as the gateway's route and fell behind its own
schedule on this 2-core machine (docs/performance.md, round 8), which made its latencies the client's.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.bench.http1 import take_response
from gateway.bench.procstat import ProcessUsage, usage
from gateway.wire import pb, signing

CONNECTIONS = 64
TIMEOUT_S = 30.0


@dataclass(frozen=True)
class CheckPlan:
    """What the check generator does: `requests` pre-signed check bodies sent at `rate` a second."""

    url: str
    requests: tuple[bytes, ...]
    rate: float
    start_at: float  # time.time() to start at


@dataclass
class CheckResult:
    """Latencies of the answered checks (ms, from their scheduled moments) and what went wrong."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)  # HTTP status -> count (200 among them)
    errors: list[str] = field(default_factory=list)
    sent: int = 0
    elapsed_s: float = 0.0  # from the first scheduled moment to the last answer
    usage: ProcessUsage | None = None


def signed_checks(device_id: str, key: ec.EllipticCurvePrivateKey, key_id: str, codes: list[str],
                  count: int) -> list[bytes]:
    """`count` checks of one code each (round the codes), each with its own nonce, signed by the device."""
    now_ms = time.time_ns() // 1_000_000
    bodies = []
    for i in range(count):
        body = pb.CodeCheckBody(codes=[codes[i % len(codes)]], time_ms=now_ms,
                                nonce=os.urandom(12)).SerializeToString()
        signature = signing.sign(key, signing.code_check_preimage(device_id, body))
        bodies.append(pb.CodeCheckRequest(device_id=device_id, body=body, signature=signature,
                                          key_id=key_id).SerializeToString())
    return bodies


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time, its answer read to Content-Length."""

    def __init__(self, free: asyncio.Queue[_Connection]) -> None:
        self.free = free  # where it goes back once its answer is read
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.due = 0.0
        self.result: CheckResult | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self, request: bytes, due: float, result: CheckResult) -> None:
        self.due, self.result = due, result
        assert self.transport is not None
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        response = take_response(self.buffer)
        if response is None:
            return
        status = response[0]
        assert self.result is not None
        self.result.statuses[status] = self.result.statuses.get(status, 0) + 1
        if status == 200:
            self.result.latencies_ms.append((time.perf_counter() - self.due) * 1000)
        self.free.put_nowait(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


async def _drive(plan: CheckPlan) -> CheckResult:
    parts = urlsplit(plan.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    loop = asyncio.get_running_loop()
    free: asyncio.Queue[_Connection] = asyncio.Queue()
    connections = []
    for _ in range(CONNECTIONS):
        _, connection = await loop.create_connection(lambda: _Connection(free), host, port)
        connections.append(connection)
        free.put_nowait(connection)
    head = (f"POST /v1/codes/check HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Content-Type: application/x-protobuf\r\nContent-Length: ").encode()
    requests = [head + str(len(body)).encode() + b"\r\n\r\n" + body for body in plan.requests]
    result = CheckResult()
    await asyncio.sleep(max(0.0, plan.start_at - time.time()))
    start = time.perf_counter()
    for i, request in enumerate(requests):
        due = start + i / plan.rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        connection = await free.get()  # all busy: this request waits, and its wait is counted
        connection.send(request, due, result)
        result.sent += 1
    deadline = time.perf_counter() + TIMEOUT_S
    while free.qsize() < len(connections) and time.perf_counter() < deadline:
        if any(c.lost.done() for c in connections):
            result.errors.append("a connection closed before its answer")
            break
        await asyncio.sleep(0.01)
    result.elapsed_s = time.perf_counter() - start
    for connection in connections:
        if connection.transport is not None:
            connection.transport.close()
    return result


def run_checks(plan: CheckPlan) -> CheckResult:
    """Entry point of a spawned generator process."""
    try:
        result = asyncio.run(_drive(plan))
    except OSError as exc:
        result = CheckResult(errors=[f"{type(exc).__name__}: {exc}"])
    result.usage = usage("loadgen-check", os.getpid())
    return result

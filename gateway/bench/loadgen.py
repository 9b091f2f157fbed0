"""Load generator process: sends pre-signed batches to a server over HTTP and times every ack.

Runs in its own `spawn`ed process (never forked: the parent may be anything). Each device uploads its
batches in order, one request in flight per device, as a register does; `concurrency` caps requests in
flight across devices (one keep-alive connection each). With `rate` > 0, sends are paced to that many
receipts per second (open loop); with 0, as fast as the server answers (closed loop).

The client is a bare HTTP/1.1 keep-alive asyncio.Protocol (http1.py), not aiohttp's: on this 2-core
machine the generator shares the cores with the gateway's two processes, and with aiohttp's client it
took 13.6-14.7 µs of CPU a receipt, 11 µs with this one (its whole life, loading the workload included;
docs/performance.md, round 10).
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from gateway.bench.http1 import take_response
from gateway.bench.procstat import ProcessUsage, usage
from gateway.bench.workload import DeviceLoad, Workload
from gateway.wire import pb

TIMEOUT_S = 120.0  # a request unanswered this long ends the run with an error


@dataclass(frozen=True)
class LoadPlan:
    """What one load generator process does."""

    workload_path: Path
    url: str
    device_indexes: tuple[int, ...]  # into Workload.devices; empty with backlog=True
    duration_s: float
    start_at: float  # time.time() to start at, so several generators start together
    concurrency: int
    rate: float = 0.0  # receipts/s for this generator; 0 = closed loop
    backlog: bool = False


@dataclass
class Sample:
    """One request: when it was sent and answered (wall clock, s) and what the ack said."""

    sent: float
    acked: float
    envelopes: int
    accepted: int


@dataclass
class LoadResult:
    """Everything one generator saw."""

    samples: list[Sample] = field(default_factory=list)
    rejected: int = 0
    duplicates: int = 0
    backpressure: int = 0  # 503 answers (resent after Retry-After)
    errors: list[str] = field(default_factory=list)
    exhausted: bool = False  # ran out of pre-signed batches before the duration ended
    usage: ProcessUsage | None = None


class Pacer:
    """Open-loop pacing: the next send slot advances by a batch's share of the target rate."""

    def __init__(self, rate: float, start: float) -> None:
        self.rate = rate
        self.next_slot = start

    async def wait(self, receipts: float) -> None:
        """Sleep until the slot of a send of this many receipts (at once in closed loop)."""
        if self.rate <= 0:
            return
        slot = self.next_slot
        self.next_slot += receipts / self.rate
        delay = slot - time.time()
        if delay > 0:
            await asyncio.sleep(delay)


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time, its answer read to Content-Length."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.answer: asyncio.Future[tuple[int, float, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def post(self, head: bytes, body: bytes) -> asyncio.Future[tuple[int, float, bytes]]:
        """Send one request; the future gets (status, Retry-After or -1, body)."""
        assert self.transport is not None
        self.answer = asyncio.get_running_loop().create_future()
        self.transport.writelines((head, str(len(body)).encode(), b"\r\n\r\n", body))
        return self.answer

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        response = take_response(self.buffer)
        if response is not None and self.answer is not None and not self.answer.done():
            status, fields, body = response
            self.answer.set_result((status, float(fields.get("retry-after", "-1")), body))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(ConnectionError(f"the server closed the connection: {exc}"))


async def _upload(
    connections: asyncio.Queue[_Connection], head: bytes, device: DeviceLoad, pacer: Pacer, deadline: float,
    result: LoadResult,
) -> bool:
    """Send one device's batches in order until the deadline; True if it ran out of batches."""
    per_batch = device.receipts / max(1, len(device.batches))
    accepted_status, duplicate, rejected = pb.ACCEPTED, pb.DUPLICATE, pb.REJECTED
    for body in device.batches:
        await pacer.wait(per_batch)
        if time.time() >= deadline:
            return False
        while True:
            connection = await connections.get()
            try:
                sent = time.time()
                status, retry_after, answer = await asyncio.wait_for(connection.post(head, body), TIMEOUT_S)
                acked = time.time()
            finally:
                connections.put_nowait(connection)
            if status == 200:
                break
            if status != 503:
                result.errors.append(f"HTTP {status}: {answer[:200]!r}")
                return False
            result.backpressure += 1
            await asyncio.sleep(retry_after if retry_after >= 0 else 1.0)
        statuses = [a.status for a in pb.IngestAck.FromString(answer).acks[:]]
        accepted = statuses.count(accepted_status)
        result.duplicates += statuses.count(duplicate)
        result.rejected += statuses.count(rejected)
        result.samples.append(Sample(sent, acked, len(statuses), accepted))
    return True


async def _drive(plan: LoadPlan) -> LoadResult:
    workload = Workload.load(plan.workload_path)
    devices = [workload.backlog] if plan.backlog else [workload.devices[i] for i in plan.device_indexes]
    del workload
    result = LoadResult()
    parts = urlsplit(plan.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    loop = asyncio.get_running_loop()
    connections: asyncio.Queue[_Connection] = asyncio.Queue()
    opened: list[_Connection] = []
    head = (f"POST /v1/batches HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Content-Type: application/x-protobuf\r\nContent-Length: ").encode()
    try:
        for _ in range(min(plan.concurrency, len(devices))):
            _, connection = await loop.create_connection(_Connection, host, port)
            opened.append(connection)
            connections.put_nowait(connection)
        await asyncio.sleep(max(0.0, plan.start_at - time.time()))
        deadline = plan.start_at + plan.duration_s
        pacer = Pacer(plan.rate, plan.start_at)
        ran_out = await asyncio.gather(
            *(_upload(connections, head, d, pacer, deadline, result) for d in devices)
        )
    except (OSError, TimeoutError) as exc:
        result.errors.append(f"{type(exc).__name__}: {exc}")
        ran_out = []
    finally:
        for connection in opened:
            if connection.transport is not None:
                connection.transport.close()
    result.exhausted = bool(ran_out) and all(ran_out)
    return result


def run_load(plan: LoadPlan) -> LoadResult:
    """Entry point of a spawned generator process."""
    result = asyncio.run(_drive(plan))
    result.usage = usage("loadgen" + ("-backlog" if plan.backlog else ""), os.getpid())
    return result

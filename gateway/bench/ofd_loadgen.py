"""OFD load generator process: registers send their pre-encoded TICKET requests to an OFD front door,
one TCP connection per exchange as registers do, and every answer is timed.

Runs in its own `spawn`ed process. Each register sends in order, one exchange at a time, using the TOKEN
of the previous answer; `concurrency` caps exchanges in flight across registers. With `rate` > 0 the
sends are paced to that many documents a second (open loop), else as fast as answered (closed loop). The
client is an asyncio.Protocol, not streams: the generator must cost less CPU than the server it drives.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path

from gateway.bench.loadgen import LoadResult, Pacer, Sample
from gateway.bench.ofd_workload import OfdDeviceLoad, OfdWorkload
from gateway.bench.procstat import usage
from gateway.ofd.framing import APPCODE, HEADER, HEADER_SIZE, ResultCode, peek_result_code

TIMEOUT_S = 30.0


@dataclass(frozen=True)
class OfdLoadPlan:
    """What one OFD load generator process does."""

    workload_path: str
    host: str
    port: int
    device_indexes: tuple[int, ...]
    duration_s: float
    start_at: float  # time.time() to start at, so several generators start together
    concurrency: int
    rate: float = 0.0  # documents/s for this generator; 0 = closed loop


class _Exchange(asyncio.Protocol):
    """One connection: send the frame, collect one answer frame, close."""

    def __init__(self, frame: bytes, done: asyncio.Future[bytes]) -> None:
        self.frame = frame
        self.done = done
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.frame)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) >= HEADER_SIZE:
            size = int.from_bytes(self.buffer[4:8], "little")
            if len(self.buffer) >= size and not self.done.done():
                self.done.set_result(bytes(self.buffer[:size]))
                assert self.transport is not None
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(exc or ConnectionError("closed before a whole answer"))


async def _exchange(host: str, port: int, frame: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bytes] = loop.create_future()
    transport, _ = await loop.create_connection(lambda: _Exchange(frame, done), host, port)
    try:
        async with asyncio.timeout(TIMEOUT_S):
            return await done
    finally:
        transport.close()


async def _register(plan: OfdLoadPlan, device: OfdDeviceLoad, gate: asyncio.Semaphore, pacer: Pacer,
                    deadline: float, result: LoadResult) -> bool:
    """One register's documents in order until the deadline; True if it ran out of them."""
    identity = device.identity
    token, reqnum = identity.first_token, 0
    for payload in device.payloads:
        await pacer.wait(1)
        if time.time() >= deadline:
            return False
        reqnum = (reqnum + 1) & 0xFFFF
        size = HEADER_SIZE + len(payload)
        frame = HEADER.pack(APPCODE, 203, size, identity.ofd_id, token, reqnum) + payload
        async with gate:
            sent = time.time()
            answer = await _exchange(plan.host, plan.port, frame)
            acked = time.time()
        code = peek_result_code(answer[HEADER_SIZE:])
        if code == ResultCode.OK:
            token = int.from_bytes(answer[12:16], "little")
            result.samples.append(Sample(sent, acked, 1, 1))
        else:
            result.rejected += 1
            result.errors.append(f"{identity.device_id} reqnum {reqnum}: result {code}")
            return False  # a register stops on any refusal
    return True


async def _drive(plan: OfdLoadPlan) -> LoadResult:
    workload = OfdWorkload.load(Path(plan.workload_path))
    devices = [workload.devices[i] for i in plan.device_indexes]
    del workload
    result = LoadResult()
    gate = asyncio.Semaphore(plan.concurrency)
    await asyncio.sleep(max(0.0, plan.start_at - time.time()))
    pacer = Pacer(plan.rate, plan.start_at)
    try:
        ran_out = await asyncio.gather(*(
            _register(plan, d, gate, pacer, plan.start_at + plan.duration_s, result) for d in devices
        ))
    except (OSError, TimeoutError) as exc:
        result.errors.append(f"{type(exc).__name__}: {exc}")
        ran_out = []
    result.exhausted = bool(ran_out) and all(ran_out)
    result.errors = result.errors[:20]
    return result


def run_ofd_load(plan: OfdLoadPlan) -> LoadResult:
    """Entry point of a spawned generator process."""
    result = asyncio.run(_drive(plan))
    result.usage = usage("loadgen-ofd", os.getpid())
    return result

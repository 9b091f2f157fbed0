"""Load generator process: sends pre-signed batches to a server over HTTP and times every ack.

Runs in its own `spawn`ed process (never forked: the parent may be anything). Each device uploads its
batches in order, one request in flight per device, as a register does; `concurrency` caps requests in
flight across devices. With `rate` > 0, sends are paced to that many receipts per second (open loop);
with 0, as fast as the server answers (closed loop).
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from gateway.bench.procstat import ProcessUsage, usage
from gateway.bench.workload import DeviceLoad, Workload
from gateway.wire import pb

PROTOBUF = "application/x-protobuf"


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


async def _upload(
    session: aiohttp.ClientSession, plan: LoadPlan, device: DeviceLoad, gate: asyncio.Semaphore,
    pacer: Pacer, deadline: float, result: LoadResult,
) -> bool:
    """Send one device's batches in order until the deadline; True if it ran out of batches."""
    per_batch = device.receipts / max(1, len(device.batches))
    for body in device.batches:
        await pacer.wait(per_batch)
        if time.time() >= deadline:
            return False
        while True:
            async with gate:
                sent = time.time()
                async with session.post(plan.url + "/v1/batches", data=body,
                                        headers={"Content-Type": PROTOBUF}) as response:
                    answer = await response.read()
                    acked = time.time()
                    if response.status == 503:
                        result.backpressure += 1
                        retry_after = float(response.headers.get("Retry-After", "1"))
                    elif response.status != 200:
                        result.errors.append(f"HTTP {response.status}: {answer[:200]!r}")
                        return False
                    else:
                        retry_after = -1.0
            if retry_after < 0:
                break
            await asyncio.sleep(retry_after)
        ack = pb.IngestAck.FromString(answer)
        accepted = sum(1 for a in ack.acks if a.status == pb.ACCEPTED)
        result.duplicates += sum(1 for a in ack.acks if a.status == pb.DUPLICATE)
        result.rejected += sum(1 for a in ack.acks if a.status == pb.REJECTED)
        result.samples.append(Sample(sent, acked, len(ack.acks), accepted))
    return True


async def _drive(plan: LoadPlan) -> LoadResult:
    workload = Workload.load(plan.workload_path)
    devices = [workload.backlog] if plan.backlog else [workload.devices[i] for i in plan.device_indexes]
    del workload
    result = LoadResult()
    gate = asyncio.Semaphore(plan.concurrency)
    connector = aiohttp.TCPConnector(limit=plan.concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.sleep(max(0.0, plan.start_at - time.time()))
        deadline = plan.start_at + plan.duration_s
        pacer = Pacer(plan.rate, plan.start_at)
        try:
            ran_out = await asyncio.gather(
                *(_upload(session, plan, d, gate, pacer, deadline, result) for d in devices)
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            result.errors.append(f"{type(exc).__name__}: {exc}")
            ran_out = []
    result.exhausted = bool(ran_out) and all(ran_out)
    return result


def run_load(plan: LoadPlan) -> LoadResult:
    """Entry point of a spawned generator process."""
    result = asyncio.run(_drive(plan))
    result.usage = usage("loadgen" + ("-backlog" if plan.backlog else ""), os.getpid())
    return result

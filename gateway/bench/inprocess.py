"""In-process ingest driver: the bench's pre-made load through the real GatewayService in this one process
(real pipeline, journal with its fsyncs, code registry loaded; no HTTP, no TCP, the shipper held back), so a
profiler or cachegrind sees only the gateway's own work per receipt or document.

    python -m gateway.bench.inprocess                       # HTTP bench receipts, 20 a batch, 100 devices
    python -m gateway.bench.inprocess --backlog 30000       # one device's backlog, 1,000 a batch, in order
    python -m gateway.bench.inprocess --protocol ofd        # OFD TICKET exchanges through the OFD handler
    python -m gateway.bench.inprocess --profile 40          # the same under cProfile, 40 hottest lines
    python -m gateway.bench.inprocess --backlog 30000 --stages  # each pipeline stage's share of the time
    python -m gateway.bench.inprocess --checks 20000        # pre-sale checks over HTTP at --check-rate
    valgrind --tool=cachegrind python -m gateway.bench.inprocess --receipts 4800 --devices 8

The check mode is the one that speaks HTTP: the whole aiohttp application (middlewares, routes) on a
loopback port in this process, the signed checks sent open loop from a process of their own (the bench's
check client), so the CPU a check is the gateway process's and the latencies are the bench's.

It prints CPU µs a receipt (process time: every thread, the journal writer's included) and the wall rate;
the first tenth of the load warms up and is not counted. PYTHONHASHSEED=0 makes instruction counts repeat.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import multiprocessing
import os
import pstats
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from aiohttp import web

from gateway.bench.check_loadgen import CheckPlan, CheckResult, run_checks, signed_checks
from gateway.bench.ofd_workload import OfdDeviceLoad
from gateway.bench.ofd_workload import generate as generate_ofd
from gateway.bench.report import percentile
from gateway.bench.workload import generate
from gateway.codes.registry_file import RegistryRow
from gateway.devices import new_device
from gateway.http.app import create_app
from gateway.http.codes_routes import apply_registry_rows
from gateway.http.keys import SERVICE
from gateway.observability.logs import configure_logging
from gateway.ofd import registration
from gateway.ofd.framing import APPCODE, HEADER, HEADER_SIZE, parse_header, peek_result_code
from gateway.service import GatewayService
from gateway.settings import load_settings
from gateway.wire import pb, signing

WARM_UP_SHARE = 0.1
# The pipeline's stages, as IngestPipeline.ingest calls them (--stages).
STAGES = ("_prepare", "_authenticate", "_cursors", "_decide", "_ack")


class _StageClock:
    """Wall time spent in each stage of IngestPipeline.ingest and in the journal's append (--stages): the
    service's own objects' methods wrapped, so what a stage does in the other threads for it counts too."""

    def __init__(self, service: GatewayService) -> None:
        self.spent: dict[str, float] = {}
        for name in ("ingest", *STAGES):
            self._wrap(service.pipeline, name, name.strip("_"))
        self._wrap(service.journal, "append", "journal append")

    def _wrap(self, owner: object, name: str, label: str) -> None:
        method, spent = getattr(owner, name), self.spent

        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return await method(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.perf_counter() - start

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.perf_counter() - start

        setattr(owner, name, timed_async if asyncio.iscoroutinefunction(method) else timed)

    def report(self) -> None:
        whole = self.spent.pop("ingest")
        print("share of IngestPipeline.ingest's wall time:")
        for label, seconds in self.spent.items():
            print(f"  {label:15} {seconds / whole:6.1%}")
        rest = whole - sum(self.spent.values())
        print(f"  {'the rest':15} {rest / whole:6.1%}  (locks, rotations, committing the chain cursors)")


async def _start(data: Path) -> GatewayService:
    # Storage in its own process (as on 2+ cores): process time and cachegrind see the gateway process only.
    settings = load_settings({"data_dir": data, "storage_process": 1, "shipper_interval_s": 1e6,
                              "gateway_id": "inprocess"}, environ={})
    return await GatewayService.start(settings)


def _load_registry(service: GatewayService, chunks: Iterable[list[RegistryRow]]) -> None:
    assert service.code_verdicts is not None
    for rows in chunks:
        apply_registry_rows(service.code_verdicts, rows)


async def _measure(name: str, units: int, run: Callable[[], Awaitable[None]], profile: int,
                   timer: Callable[[], float] | None = None) -> None:
    profiler = (cProfile.Profile(timer) if timer else cProfile.Profile()) if profile else None
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    await run()
    if profiler:
        profiler.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"{name}: {units} in {wall:.2f} s = {units / wall:,.0f}/s wall; "
          f"CPU {cpu * 1e6 / max(units, 1):.1f} µs each (all threads)")
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(profile)


async def _http(args: argparse.Namespace, service: GatewayService) -> None:
    backlog = args.backlog > 0
    workload = generate(devices=1 if backlog else args.devices, receipts=0 if backlog else args.receipts,
                        batch_size=args.batch, backlog_events=max(args.backlog, 1), backlog_batch=1000,
                        workers=max(1, os.cpu_count() or 1))
    loads = [workload.backlog] if backlog else workload.devices
    for load in loads:
        service.registry.put(new_device(load.device_id, load.seller_tin, load.store_id, load.public_key_pem))
    _load_registry(service, workload.registry_chunks(50_000))
    pipeline = service.pipeline

    async def upload(batches: list[bytes]) -> None:
        for body in batches:
            ack = await pipeline.ingest(pipeline.decode_batch(body))
            assert all(a.status == pb.ACCEPTED for a in ack.acks), ack.acks[0]

    warm = [max(1, int(len(load.batches) * WARM_UP_SHARE)) for load in loads]
    await asyncio.gather(*(upload(load.batches[:n]) for load, n in zip(loads, warm, strict=True)))
    counted = sum(len(pb.IngestBatch.FromString(b).envelopes) for load, n in zip(loads, warm, strict=True)
                  for b in load.batches[n:])
    stages = _StageClock(service) if args.stages else None

    async def rest() -> None:
        await asyncio.gather(*(upload(load.batches[n:]) for load, n in zip(loads, warm, strict=True)))

    await _measure("backlog events (one device, in order)" if backlog else "receipts", counted, rest,
                   args.profile)
    if stages is not None:
        stages.report()


async def _ofd(args: argparse.Namespace, service: GatewayService) -> None:
    workload = generate_ofd(devices=args.devices, receipts=args.receipts, workers=max(1, os.cpu_count() or 1),
                            run=os.getpid())
    for load in workload.devices:
        i = load.identity
        wanted = registration.OfdRegistration(i.device_id, i.seller_tin, i.store_id, i.ofd_id, i.kgd_number,
                                              i.first_token)
        device, _, _ = registration.register(service.registry, wanted, service.ofd_keys)
        assert device is not None
        service.registry.put(device)
    _load_registry(service, workload.registry_chunks(50_000))
    handler = service.ofd_handler
    tokens = {load.identity.ofd_id: (load.identity.first_token, 0) for load in workload.devices}

    async def register(load: OfdDeviceLoad, payloads: list[bytes]) -> None:
        ofd_id = load.identity.ofd_id
        token, reqnum = tokens[ofd_id]
        for payload in payloads:
            reqnum += 1
            frame = HEADER.pack(APPCODE, 203, HEADER_SIZE + len(payload), ofd_id, token, reqnum) + payload
            answer = await handler.exchange(parse_header(frame, len(frame)), payload)
            assert peek_result_code(answer[HEADER_SIZE:]) == 0, peek_result_code(answer[HEADER_SIZE:])
            token = int.from_bytes(answer[12:16], "little")
        tokens[ofd_id] = (token, reqnum)

    loads = workload.devices
    warm = [max(1, int(len(load.payloads) * WARM_UP_SHARE)) for load in loads]
    await asyncio.gather(*(register(load, load.payloads[:n]) for load, n in zip(loads, warm, strict=True)))
    counted = sum(len(load.payloads) - n for load, n in zip(loads, warm, strict=True))

    async def rest() -> None:
        await asyncio.gather(*(register(load, load.payloads[n:])
                               for load, n in zip(loads, warm, strict=True)))

    await _measure("OFD documents (one exchange each, registers concurrent)", counted, rest, args.profile)


async def _checks(args: argparse.Namespace, data: Path) -> None:
    # As the bench's gateway: warnings only in the log (--log-level INFO: an access log line a request, as
    # `tracegate serve` by default), no per-register check limit (one register asks thousands of times a
    # second), no per-address limit (one loopback client).
    settings = load_settings({"data_dir": data, "storage_process": 1, "shipper_interval_s": 1e6,
                              "gateway_id": "inprocess", "log_level": args.log_level, "rate_check_per_s": 0,
                              "rate_remote_per_s": 1e6, "rate_remote_burst": 1_000_000}, environ={})
    configure_logging(settings.log_level, settings.log_format)
    runner = web.AppRunner(create_app(settings), keepalive_timeout=settings.keepalive_timeout_s)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        service = runner.app[SERVICE]
        workload = generate(devices=1, receipts=400, batch_size=20, backlog_events=1, backlog_batch=1,
                            workers=1)
        seller = workload.devices[0]
        _load_registry(service, workload.registry_chunks(50_000))
        key = signing.new_private_key()
        device = new_device("inprocess-check", seller.seller_tin, "check-store",
                            signing.public_key_pem(key.public_key()))
        service.registry.put(device)
        bodies = signed_checks(device.device_id, key, device.key_id, seller.codes, args.checks)
        warm = max(1, int(len(bodies) * WARM_UP_SHARE))
        url = f"http://127.0.0.1:{port}"
        loop = asyncio.get_running_loop()
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            def send(part: list[bytes]) -> Awaitable[object]:
                plan = CheckPlan(url, tuple(part), args.check_rate, time.time() + 1.0)
                return loop.run_in_executor(None, pool.apply, run_checks, (plan,))

            await send(bodies[:warm])
            outcome: list[object] = []

            async def rest() -> None:
                outcome.append(await send(bodies[warm:]))

            # The profile in CPU time of the loop's thread: wall time would charge each syscall with the wait
            # for the GIL and the cores that the other threads and processes had meanwhile.
            await _measure(f"checks at {args.check_rate:g}/s", len(bodies) - warm, rest, args.profile,
                           time.thread_time)
        result = outcome[0]
        assert isinstance(result, CheckResult)
        sent, latencies = result.sent / max(result.elapsed_s, 1e-9), result.latencies_ms
        print(f"sent {sent:,.0f}/s, answered {result.statuses}, errors {result.errors[:3]}; latency p50 "
              f"{percentile(latencies, 0.5):.2f} ms, p99 {percentile(latencies, 0.99):.2f} ms, "
              f"max {max(latencies, default=0.0):.2f} ms")
    finally:
        await runner.cleanup()


async def _main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="tracegate-inprocess-") as scratch:
        if args.checks:
            await _checks(args, Path(scratch) / "data")
            return
        service = await _start(Path(scratch) / "data")
        try:
            await (_ofd(args, service) if args.protocol == "ofd" else _http(args, service))
        finally:
            await service.stop()


def main() -> None:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(prog="python -m gateway.bench.inprocess", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocol", choices=("tracegate", "ofd"), default="tracegate")
    parser.add_argument("--devices", type=int, default=100, help="registers, concurrent (100; OFD: 50)")
    parser.add_argument("--receipts", type=int, default=20_000, help="receipts or documents in all (20000)")
    parser.add_argument("--batch", type=int, default=20, help="receipts a request (20)")
    parser.add_argument("--backlog", type=int, default=0,
                        help="instead: one device's backlog of this many events, 1,000 a request, in order")
    parser.add_argument("--checks", type=int, default=0,
                        help="instead: this many pre-sale checks over HTTP (POST /v1/codes/check)")
    parser.add_argument("--check-rate", type=float, default=2000.0, help="checks a second, open loop (2000)")
    parser.add_argument("--log-level", default="WARNING", help="the check mode's log level (WARNING)")
    parser.add_argument("--profile", type=int, default=0, help="run under cProfile and print N lines")
    parser.add_argument("--stages", action="store_true",
                        help="also print each pipeline stage's share of the ingest time (tracegate protocol)")
    args = parser.parse_args()
    if args.protocol == "ofd" and args.devices == 100:
        args.devices = 50
    asyncio.run(_main(args))


if __name__ == "__main__":
    multiprocessing.freeze_support()
    main()

"""One bench run: sign the load, then drive ceiling, naive and the real gateway with it, one after another."""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gateway.bench.check_loadgen import CheckPlan, CheckResult, run_checks, signed_checks
from gateway.bench.loadgen import LoadPlan, LoadResult, Sample, run_load
from gateway.bench.procstat import ProcessUsage, combined
from gateway.bench.servers import (
    REGISTRY_ROWS_PER_CHUNK,
    ServerProcess,
    start_ceiling,
    start_gateway,
    start_naive,
)
from gateway.bench.workload import generate
from gateway.wire import signing

STORED_TABLES = ("events", "receipts", "receipt_lines", "anomalies", "rejections", "shifts")
POLL_INTERVAL_S = 0.2
DRAIN_TIMEOUT_S = 120.0
START_DELAY_S = 3.0  # lets the spawned generators import and unpickle before the clock starts


@dataclass(frozen=True)
class BenchOptions:
    """The knobs of one run."""

    duration_s: float
    devices: int
    receipts: int
    batch_size: int
    concurrency: int
    rate: float
    load_procs: int
    backlog_events: int
    backlog_batch: int
    workdir: Path
    registry: bool = True  # load the codes sold into the registry first; False: every code is unknown
    check_rate: float = 0.0  # pre-sale checks a second in the check phase; 0: no check phase
    check_duration_s: float = 10.0


@dataclass
class PhaseResult:
    """What one server did with the load."""

    name: str
    start: float
    samples: list[Sample]
    rejected: int
    duplicates: int
    backpressure: int
    errors: list[str]
    exhausted: bool
    server: ProcessUsage  # the server with its children
    generators: list[ProcessUsage]
    # The server process and each child separately, with the CPU seconds each used during the load.
    server_parts: list[tuple[ProcessUsage, float]] = field(default_factory=list)
    visible: list[tuple[float, int]] = field(default_factory=list)  # (time, events rows visible)
    rows_stored: int = 0
    anomalies: int = 0  # rows of the anomalies table (findings), included in rows_stored
    drained_at: float = 0.0

    @property
    def accepted(self) -> int:
        """Envelopes acked ACCEPTED."""
        return sum(s.accepted for s in self.samples)

    @property
    def server_cpu_s(self) -> float:
        """CPU seconds of the server and its children during the load."""
        return sum(cpu for _, cpu in self.server_parts)

    @property
    def elapsed_s(self) -> float:
        """From the start signal to the last ack."""
        return max((s.acked for s in self.samples), default=self.start) - self.start


@dataclass
class BenchResult:
    """The three phases and the backlog upload."""

    options: BenchOptions
    workload_receipts: int
    generation_s: float
    registry_codes: int  # codes imported into the gateway's registry before its phase
    phases: dict[str, PhaseResult]
    backlog: PhaseResult | None
    checks: CheckResult | None = None


def _drive(
    workload_path: Path, url: str, options: BenchOptions, devices: int, *, backlog: bool = False
) -> list[LoadResult]:
    procs = 1 if backlog else max(1, min(options.load_procs, devices))
    start_at = time.time() + START_DELAY_S
    plans = [
        LoadPlan(
            workload_path, url, () if backlog else tuple(range(p, devices, procs)),
            duration_s=max(60.0, options.duration_s) if backlog else options.duration_s,
            start_at=start_at, concurrency=1 if backlog else options.concurrency,
            rate=0.0 if backlog else options.rate / procs, backlog=backlog,
        )
        for p in range(procs)
    ]
    # spawn, never fork: the gateway process has chDB loaded; ours must not pass anything odd along either.
    with multiprocessing.get_context("spawn").Pool(procs) as pool:
        return pool.map(run_load, plans)


def _phase(
    name: str, server: ServerProcess, workload_path: Path, options: BenchOptions, devices: int,
    *, backlog: bool = False, poll: Callable[[], int] | None = None,
) -> PhaseResult:
    cpu_before = {part.pid: part.cpu_s for part in server.usage()}
    visible: list[tuple[float, int]] = []
    stop = threading.Event()

    def poll_visible() -> None:
        assert poll is not None
        while not stop.is_set():
            # A poll that fails (gateway busy past the timeout) is just a missing point.
            with contextlib.suppress(OSError):
                visible.append((time.time(), poll()))
            stop.wait(POLL_INTERVAL_S)

    poller = threading.Thread(target=poll_visible, daemon=True) if poll else None
    if poller:
        poller.start()
    start = time.time() + START_DELAY_S
    results = _drive(workload_path, server.url, options, devices, backlog=backlog)
    parts = server.usage()
    server_usage = combined(server.name, server.process.pid, parts)
    phase = PhaseResult(
        name=name,
        start=min((s.sent for r in results for s in r.samples), default=start),
        samples=sorted((s for r in results for s in r.samples), key=lambda s: s.acked),
        rejected=sum(r.rejected for r in results),
        duplicates=sum(r.duplicates for r in results),
        backpressure=sum(r.backpressure for r in results),
        errors=[e for r in results for e in r.errors][:10],
        exhausted=all(r.exhausted for r in results),
        server=server_usage,
        generators=[r.usage for r in results if r.usage is not None],
        server_parts=[(part, part.cpu_s - cpu_before.get(part.pid, 0.0)) for part in parts],
    )
    if poller and poll:
        # Keep polling until every accepted event is visible (or give up), then stop.
        deadline = time.time() + DRAIN_TIMEOUT_S
        while time.time() < deadline and (not visible or visible[-1][1] < phase.accepted):
            time.sleep(POLL_INTERVAL_S)
        stop.set()
        poller.join()
        phase.visible = visible
        phase.drained_at = next((t for t, n in visible if n >= phase.accepted), 0.0)
    return phase


def run_bench(options: BenchOptions, progress: Callable[[str], None]) -> BenchResult:
    """The whole run; progress gets one line per step (to stderr in the CLI)."""
    progress(f"signing {options.receipts} receipts for {options.devices} devices "
             f"+ a {options.backlog_events}-event backlog …")
    workload = generate(
        devices=options.devices, receipts=options.receipts, batch_size=options.batch_size,
        backlog_events=options.backlog_events, backlog_batch=options.backlog_batch,
        workers=max(1, multiprocessing.cpu_count()),
    )
    workload_path = options.workdir / "workload.pkl"
    workload.save(workload_path)
    progress(f"signed {workload.receipts} receipts in {workload.generation_s:.1f} s")
    fleet = workload.devices
    phases: dict[str, PhaseResult] = {}

    progress("phase ceiling (decode + ack only) …")
    server = start_ceiling(options.workdir / "ceiling")
    try:
        phases["ceiling"] = _phase("ceiling", server, workload_path, options, len(fleet))
    finally:
        server.stop()

    progress("phase naive (verify all, fsync per request, 10k-row inserts, one process) …")
    server = start_naive(options.workdir / "naive", fleet)
    try:
        phases["naive"] = _phase("naive", server, workload_path, options, len(fleet))
    finally:
        server.stop()

    registry_codes = workload.codes if options.registry else 0
    progress(f"phase gateway (tracegate serve, {registry_codes} codes in its registry) …")
    registry = workload.registry_chunks(REGISTRY_ROWS_PER_CHUNK) if options.registry else ()
    server = start_gateway(options.workdir / "gateway", [*fleet, workload.backlog], registry)

    def count_events() -> int:
        return int(server.sql("SELECT count() FROM tracegate.events")[0][0])

    try:
        gateway = _phase("gateway", server, workload_path, options, len(fleet), poll=count_events)
        union = " UNION ALL ".join(f"SELECT count() FROM tracegate.{t}" for t in STORED_TABLES)
        gateway.rows_stored = sum(int(row[0]) for row in server.sql(union))
        gateway.anomalies = int(server.sql("SELECT count() FROM tracegate.anomalies")[0][0])
        phases["gateway"] = gateway
        progress("backlog upload (one device, chained events, large batches) …")
        backlog = _phase("backlog", server, workload_path, options, 1, backlog=True)
        checks = None
        if options.check_rate > 0:
            progress(f"pre-sale checks ({options.check_rate:g}/s for {options.check_duration_s:g} s) …")
            checks = _check_phase(server, fleet[0].seller_tin, fleet[0].codes, options)
    finally:
        server.stop()
    return BenchResult(options, workload.receipts, workload.generation_s, registry_codes, phases, backlog,
                       checks)


def _check_phase(server: ServerProcess, seller_tin: str, codes: list[str], options: BenchOptions
                 ) -> CheckResult:
    """Signed checks of a seller's codes (sold in the gateway phase by now) at check_rate, open loop, from a
    process of their own, by a register of that seller's registered for it."""
    key = signing.new_private_key()
    device = {"device_id": f"bench-check-{int(time.time())}", "seller_tin": seller_tin,
              "store_id": "bench-check", "public_key_pem": signing.public_key_pem(key.public_key())}
    key_id = str(server.admin("/v1/admin/devices", device)["key_id"])
    count = max(1, int(options.check_rate * options.check_duration_s))
    requests = signed_checks(device["device_id"], key, key_id, codes or ["0104600000000000215x"], count)
    plan = CheckPlan(server.url, tuple(requests), options.check_rate, time.time() + START_DELAY_S)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(run_checks, (plan,))

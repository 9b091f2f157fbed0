"""`tracegate bench --protocol ofd`: the real gateway's OFD front door against an OFD decode-and-answer
ceiling, driven one after the other with the same pre-encoded TICKET requests, one connection per
exchange; documents per second, answer latency, CPU, and the gateway's ratio to the ceiling.

Goals quoted in the report (issue 16): at least 5,000 documents/s saturating on a 2-core machine, and an
answer p99 of at most 50 ms when paced at 2,000/s.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.bench.ofd_loadgen import OfdLoadPlan, run_ofd_load
from gateway.bench.ofd_workload import OfdWorkload, generate
from gateway.bench.procstat import combined
from gateway.bench.report import ack_ms, percentile, phase_line, process_figures, process_lines, rate
from gateway.bench.runner import START_DELAY_S, PhaseResult
from gateway.bench.servers import (
    REGISTRY_ROWS_PER_CHUNK,
    ServerProcess,
    free_port,
    start_gateway,
    start_ofd_ceiling,
)

GOAL_DOCUMENTS_PER_S = 5_000
GOAL_PACED_RATE = 2_000
GOAL_PACED_P99_MS = 50.0


@dataclass(frozen=True)
class OfdBenchOptions:
    """The knobs of one OFD run."""

    duration_s: float
    devices: int
    receipts: int
    concurrency: int
    rate: float  # documents/s, paced; 0: as fast as answered
    load_procs: int
    workdir: Path
    registry: bool = True


@dataclass
class OfdBenchResult:
    """The ceiling and gateway phases (the gateway's may be skipped, with the reason)."""

    options: OfdBenchOptions
    receipts: int
    generation_s: float
    registry_codes: int
    phases: dict[str, PhaseResult]
    skipped: dict[str, str] = field(default_factory=dict)


def _phase(name: str, server: ServerProcess, ofd_port: int, workload_path: Path, options: OfdBenchOptions,
           devices: int) -> PhaseResult:
    cpu_before = {part.pid: part.cpu_s for part in server.usage()}
    procs = max(1, min(options.load_procs, devices))
    start_at = time.time() + START_DELAY_S
    plans = [OfdLoadPlan(str(workload_path), "127.0.0.1", ofd_port, tuple(range(p, devices, procs)),
                         options.duration_s, start_at, max(1, options.concurrency // procs),
                         options.rate / procs) for p in range(procs)]
    with multiprocessing.get_context("spawn").Pool(procs) as pool:
        results = pool.map(run_ofd_load, plans)
    parts = server.usage()
    return PhaseResult(
        name=name,
        start=min((s.sent for r in results for s in r.samples), default=start_at),
        samples=sorted((s for r in results for s in r.samples), key=lambda s: s.acked),
        rejected=sum(r.rejected for r in results), duplicates=0, backpressure=0,
        errors=[e for r in results for e in r.errors][:10],
        exhausted=all(r.exhausted for r in results),
        server=combined(server.name, server.process.pid, parts),
        generators=[r.usage for r in results if r.usage is not None],
        server_parts=[(part, part.cpu_s - cpu_before.get(part.pid, 0.0)) for part in parts],
    )


def _ofd_door(server: ServerProcess) -> int | None:
    """The port of the gateway's OFD door, from its gateway.json; None when the door stayed closed."""
    try:
        info = json.loads((server.data / "gateway.json").read_text())
        return int(str(info["ofd"][0]).rpartition(":")[2])
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None


def run_ofd_bench(options: OfdBenchOptions, progress: Callable[[str], None]) -> OfdBenchResult:
    """The whole run; progress gets one line per step."""
    progress(f"encoding {options.receipts} TICKET requests for {options.devices} OFD registers …")
    workload = generate(devices=options.devices, receipts=options.receipts,
                        workers=max(1, multiprocessing.cpu_count()), run=os.getpid())
    workload_path = options.workdir / "ofd-workload.pkl"
    workload.save(workload_path)
    progress(f"encoded {workload.receipts} requests in {workload.generation_s:.1f} s")
    result = OfdBenchResult(options, workload.receipts, workload.generation_s,
                            workload.codes if options.registry else 0, {})
    devices = len(workload.devices)

    progress("phase ofd-ceiling (framing + decode + answer only) …")
    server, ofd_port = start_ofd_ceiling(options.workdir / "ofd-ceiling")
    try:
        phase = _phase("ofd-ceiling", server, ofd_port, workload_path, options, devices)
        result.phases["ofd-ceiling"] = phase
    finally:
        server.stop()

    progress(f"phase gateway (tracegate serve --ofd-port, {result.registry_codes} codes in its registry) …")
    registry = workload.registry_chunks(REGISTRY_ROWS_PER_CHUNK) if options.registry else ()
    server = start_gateway(options.workdir / "gateway", [], registry,
                           serve_args=("--ofd-port", str(free_port())))
    try:
        door = _ofd_door(server)
        if door is None:
            result.skipped["gateway"] = "the gateway opened no OFD front door (it has no OFD handler)"
        elif (refusal := _register(server, workload)) is not None:
            result.skipped["gateway"] = f"the gateway does not register OFD registers: {refusal}"
        else:
            result.phases["gateway"] = _phase("gateway", server, door, workload_path, options, devices)
    finally:
        server.stop()
    return result


def _register(server: ServerProcess, workload: OfdWorkload) -> str | None:
    """Register every register through the admin API; the refusal, if the gateway refused."""
    for device in workload.devices:
        try:
            server.admin("/v1/admin/devices", device.identity.registration())
        except urllib.error.HTTPError as refused:
            return f"HTTP {refused.code}: {refused.read()[:300].decode(errors='replace')}"
    return None


def summary(result: OfdBenchResult) -> dict[str, Any]:
    """The JSON object `--json` prints last."""
    phases = result.phases
    ceiling, gateway = phases.get("ofd-ceiling"), phases.get("gateway")
    top = rate(ceiling) if ceiling else 0.0
    ours = rate(gateway) if gateway else 0.0
    answers = ack_ms(gateway) if gateway else []
    options = result.options
    figures: dict[str, Any] = {
        "protocol": "ofd",
        "documents_per_s": round(ours, 1),
        "answer_p50_ms": round(percentile(answers, 0.50), 2),
        "answer_p99_ms": round(percentile(answers, 0.99), 2),
        "answer_max_ms": round(max(answers, default=0.0), 2),
        "ofd_ceiling_documents_per_s": round(top, 1),
        "ofd_ceiling_answer_p50_ms": round(percentile(ack_ms(ceiling), 0.50), 2) if ceiling else 0.0,
        "ofd_ceiling_answer_p99_ms": round(percentile(ack_ms(ceiling), 0.99), 2) if ceiling else 0.0,
        "ratio_vs_ofd_ceiling": round(ours / top, 3) if top else 0.0,
        "accepted": gateway.accepted if gateway else 0,
        "rejected": gateway.rejected if gateway else 0,
        "skipped": result.skipped,
        "registry_codes": result.registry_codes,
        "exhausted_pool": {name: p.exhausted for name, p in phases.items()},
        "duration_s": options.duration_s,
        "devices": options.devices,
        "concurrency": options.concurrency,
        "target_rate": options.rate,
        "encoding_s": round(result.generation_s, 1),
        "cpus": os.cpu_count(),
        "processes": process_figures(phases.values()),
        "errors": [e for p in phases.values() for e in p.errors][:5],
    }
    if options.rate:
        fast = gateway is not None and figures["answer_p99_ms"] <= GOAL_PACED_P99_MS
        if options.rate < GOAL_PACED_RATE:
            verdict = (f"not measured (this run paced {options.rate:g}/s, where p99 "
                       f"{'was' if fast else 'was not'} <= {GOAL_PACED_P99_MS:g} ms)")
        else:
            verdict = "met" if fast and ours >= 0.95 * options.rate else "not met"
        figures["goal"] = f"answer p99 <= {GOAL_PACED_P99_MS:g} ms at {GOAL_PACED_RATE}/s paced: {verdict}"
    else:
        figures["goal"] = (f">= {GOAL_DOCUMENTS_PER_S} documents/s saturating: "
                           + ("met" if ours >= GOAL_DOCUMENTS_PER_S else "not met"))
    return figures


def text_report(result: OfdBenchResult, figures: dict[str, Any]) -> str:
    """The human-readable report."""
    options = result.options
    mode = f"paced at {options.rate:g}/s" if options.rate else "saturating"
    lines = [f"tracegate bench --protocol ofd: {options.devices} registers, {result.receipts} pre-encoded "
             f"TICKET requests, one connection per exchange, {mode}, concurrency {options.concurrency}, "
             f"{options.duration_s:g} s per phase, {os.cpu_count()} CPUs", ""]
    lines.append(f"{'phase':<12} {'documents/s':>11} {'answered':>9} {'p50':>9} {'p99':>9} {'max':>9} "
                 f"{'server CPU':>11} {'peak RSS':>9}")
    lines += [phase_line(phase, 12, "requests") for phase in result.phases.values()]
    for name, why in result.skipped.items():
        lines.append(f"{name:<12} skipped: {why}")
    ratio = figures["ratio_vs_ofd_ceiling"]
    lines += ["", f"gateway: {figures['documents_per_s']:.0f} documents/s = {ratio:.2f}× the OFD ceiling; "
              f"goal {figures['goal']}",
              f"refused {figures['rejected']}", "",
              "processes (servers and their child processes: CPU under load; generators: total):"]
    lines += process_lines(figures["processes"])
    if figures["errors"]:
        lines += ["", "errors:", *(f"  {e}" for e in figures["errors"])]
    return "\n".join(lines)

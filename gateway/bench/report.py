"""Figures of a bench run: throughput, ack latency, visibility lag, CPU, memory, ratios to the baselines."""

from __future__ import annotations

import bisect
import json
import math
import os
from collections.abc import Iterable
from typing import Any

from gateway.bench.check_loadgen import CheckResult
from gateway.bench.runner import BenchResult, PhaseResult

GOAL_CHECK_RATE = 2_000  # issue 23: pre-sale check p99 <= 5 ms at 2,000 checks/s
GOAL_CHECK_P99_MS = 5.0


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of values by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def rate(phase: PhaseResult) -> float:
    """Accepted envelopes per second, start signal to last ack."""
    return phase.accepted / phase.elapsed_s if phase.elapsed_s > 0 else 0.0


def ack_ms(phase: PhaseResult) -> list[float]:
    """Each request's time from send to ack, in ms."""
    return [(s.acked - s.sent) * 1000 for s in phase.samples]


def visibility_lags_s(phase: PhaseResult) -> list[float]:
    """Per request: seconds from its ack until the events table held that many accepted events.

    The journal is written, acked and shipped in one order, so the k-th accepted event acked is visible
    once count() reaches k (an approximation only where two acks race within one group commit).
    """
    times = [t for t, _ in phase.visible]
    counts = [n for _, n in phase.visible]
    # Counts only grow; make them monotone anyway so bisect is sound even if a poll raced an insert.
    for i in range(1, len(counts)):
        counts[i] = max(counts[i], counts[i - 1])
    lags: list[float] = []
    cumulative = 0
    for sample in phase.samples:  # sorted by ack time
        cumulative += sample.accepted
        if sample.accepted == 0:
            continue
        index = bisect.bisect_left(counts, cumulative)
        if index < len(times):
            lags.append(max(0.0, times[index] - sample.acked))
    return lags


def summary(result: BenchResult) -> dict[str, Any]:
    """The JSON object `--json` prints last."""
    gateway, ceiling, naive = (result.phases[n] for n in ("gateway", "ceiling", "naive"))
    ours, top, base = rate(gateway), rate(ceiling), rate(naive)
    acks = ack_ms(gateway)
    lags = visibility_lags_s(gateway)
    stored_s = (gateway.drained_at or max(t for t, _ in gateway.visible)) - gateway.start \
        if gateway.visible else 0.0
    backlog = result.backlog
    processes = process_figures(result.phases.values())
    return {
        "receipts_per_s": round(ours, 1),
        "rows_per_s": round(gateway.rows_stored / stored_s, 1) if stored_s > 0 else 0.0,
        "ack_p50_ms": round(percentile(acks, 0.50), 2),
        "ack_p99_ms": round(percentile(acks, 0.99), 2),
        "ack_max_ms": round(max(acks, default=0.0), 2),
        "visibility_p99_s": round(percentile(lags, 0.99), 3),
        "visibility_max_s": round(max(lags, default=0.0), 3),
        "all_visible": bool(gateway.drained_at),
        "peak_rss_mib": round(gateway.server.peak_rss_mib, 1),
        "ceiling_receipts_per_s": round(top, 1),
        "naive_receipts_per_s": round(base, 1),
        "ratio_vs_ceiling": round(ours / top, 3) if top else 0.0,
        "ratio_vs_naive": round(ours / base, 3) if base else 0.0,
        "backlog_events_per_s": round(rate(backlog), 1) if backlog else 0.0,
        "accepted": gateway.accepted,
        "rejected": gateway.rejected,
        "backpressure_503": gateway.backpressure,
        "rows_stored": gateway.rows_stored,
        "anomalies": gateway.anomalies,
        "registry_codes": result.registry_codes,
        "exhausted_pool": {name: p.exhausted for name, p in result.phases.items()},
        "duration_s": result.options.duration_s,
        "devices": result.options.devices,
        "batch_size": result.options.batch_size,
        "concurrency": result.options.concurrency,
        "target_rate": result.options.rate,
        "signing_s": round(result.generation_s, 1),
        "cpus": os.cpu_count(),
        "processes": processes,
        "errors": [e for p in (*result.phases.values(), *([backlog] if backlog else [])) for e in p.errors][
            :5
        ],
    } | check_figures(result.checks, result.options.check_rate)


def check_figures(checks: CheckResult | None, target: float) -> dict[str, Any]:
    """The pre-sale check phase's JSON keys (check_*), latency from each check's scheduled moment."""
    if checks is None:
        return {"check_rate_target": 0.0}
    latencies = checks.latencies_ms
    p99 = percentile(latencies, 0.99)
    answered = checks.statuses.get(200, 0)
    met = target >= GOAL_CHECK_RATE and answered == checks.sent and p99 <= GOAL_CHECK_P99_MS
    return {
        "check_rate_target": target,
        "check_rate_sent": round(checks.sent / checks.elapsed_s, 1) if checks.elapsed_s > 0 else 0.0,
        "check_sent": checks.sent,
        "check_answered_200": answered,
        "check_statuses": {str(k): v for k, v in sorted(checks.statuses.items())},
        "check_p50_ms": round(percentile(latencies, 0.50), 2),
        "check_p99_ms": round(p99, 2),
        "check_max_ms": round(max(latencies, default=0.0), 2),
        "check_goal": f"check p99 <= {GOAL_CHECK_P99_MS:g} ms at {GOAL_CHECK_RATE}/s: "
                      + ("met" if met else "not met" if target >= GOAL_CHECK_RATE else "not measured"),
        "check_errors": checks.errors[:5],
    }


def text_report(result: BenchResult, figures: dict[str, Any]) -> str:
    """The human-readable report."""
    codes = (f"{result.registry_codes} codes in the gateway's registry" if result.options.registry
             else "codes in no registry (each one unknown)")
    lines = [f"tracegate bench: {result.options.devices} devices, {result.workload_receipts} pre-signed "
             f"receipts in batches of {result.options.batch_size} (signed in {result.generation_s:.1f} s), "
             f"{codes}, {result.options.duration_s:g} s per phase, {os.cpu_count()} CPUs", ""]
    lines.append(f"{'phase':<9} {'receipts/s':>11} {'accepted':>9} {'ack p50':>9} {'ack p99':>9} "
                 f"{'ack max':>9} {'server CPU':>11} {'peak RSS':>9}")
    lines += [phase_line(phase, 9, "batches") for phase in result.phases.values()]
    lines += [
        "",
        f"gateway: {figures['receipts_per_s']:.0f} receipts/s = {figures['ratio_vs_ceiling']:.2f}× ceiling, "
        f"{figures['ratio_vs_naive']:.2f}× naive",
        f"stored: {figures['rows_stored']} rows ({figures['anomalies']} anomalies), "
        f"{figures['rows_per_s']:.0f} rows/s; visibility lag "
        f"p99 {figures['visibility_p99_s']:.2f} s, max {figures['visibility_max_s']:.2f} s"
        + ("" if figures["all_visible"] else " (NOT all events became visible)"),
        f"backlog: {figures['backlog_events_per_s']:.0f} events/s for one device",
        f"rejected {figures['rejected']}, 503 back-pressure answers {figures['backpressure_503']}",
        *([f"pre-sale checks: {figures['check_sent']} at {figures['check_rate_target']:g}/s "
           f"({figures['check_rate_sent']:.0f}/s sent), {figures['check_answered_200']} answered 200; "
           f"p50 {figures['check_p50_ms']:.1f} ms, p99 {figures['check_p99_ms']:.1f} ms, max "
           f"{figures['check_max_ms']:.1f} ms; goal {figures['check_goal']}"]
          if figures.get("check_sent") else []),
        "",
        "processes (servers and their child processes: CPU under load; generators: total):",
    ]
    lines += process_lines(figures["processes"])
    errors = [*figures["errors"], *figures.get("check_errors", [])]
    if errors:
        lines += ["", "errors:", *(f"  {e}" for e in errors)]
    return "\n".join(lines)


def phase_line(phase: PhaseResult, name_width: int, load: str) -> str:
    """One phase's row: rate, answered, answer latency p50/p99/max, server CPU, peak RSS."""
    acks = ack_ms(phase)
    return (
        f"{phase.name:<{name_width}} {rate(phase):>11.0f} {phase.accepted:>9} {percentile(acks, .5):>7.1f}ms "
        f"{percentile(acks, .99):>7.1f}ms {max(acks, default=0):>7.1f}ms "
        f"{phase.server_cpu_s / max(phase.elapsed_s, 1e-9):>9.0%}  {phase.server.peak_rss_mib:>6.0f}MiB"
        + (f"  (ran out of {load})" if phase.exhausted else "")
    )


def process_figures(phases: Iterable[PhaseResult]) -> list[dict[str, Any]]:
    """Each server process (CPU under load) and each generator (total CPU) of the phases, as JSON."""
    phases = list(phases)
    return [
        *(part.as_json() | {"phase": p.name, "cpu_s_under_load": round(cpu, 2),
                            "cores_under_load": round(cpu / max(p.elapsed_s, 1e-9), 2)}
          for p in phases for part, cpu in p.server_parts),
        *(g.as_json() | {"phase": p.name} for p in phases for g in p.generators),
    ]


def process_lines(processes: list[dict[str, Any]]) -> list[str]:
    """The report's lines about the processes of process_figures()."""
    lines = []
    for p in processes:
        cpu = p.get("cpu_s_under_load", p["cpu_s"])
        cores = f" = {p['cores_under_load']:.2f} cores" if "cores_under_load" in p else ""
        lines.append(f"  {p['phase']:<11} {p['name']:<16} pid {p['pid']:<7} CPU {cpu:>7.2f} s{cores:<14} "
                     f"peak RSS {p['peak_rss_mib']:>7.1f} MiB")
    return lines


def json_line(figures: dict[str, Any]) -> str:
    """One line of JSON."""
    return json.dumps(figures, separators=(",", ":"))

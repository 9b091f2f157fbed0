"""`tracegate bench`: throughput, latency and visibility of the real gateway against two baselines."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from gateway.bench import ofd_runner
from gateway.bench.durability import report as durability_report
from gateway.bench.durability import run_durability
from gateway.bench.report import json_line, summary, text_report
from gateway.bench.runner import BenchOptions, run_bench

# Receipts signed per second of phase: enough that no phase of today's gateway runs dry, capped so
# signing (about 70 µs a receipt on 2 cores) and memory stay reasonable. The ceiling may run dry: its
# rate is then measured over the shorter time it took.
POOL_PER_SECOND = 12_000
POOL_MAX = 900_000


def register(sub: Any) -> None:
    """Add the bench subcommand."""
    parser = sub.add_parser(
        "bench",
        help="measure the gateway against a decode-only ceiling and a naive pipeline",
        description="Start `tracegate serve` on a fresh temporary data directory and drive it with "
        "pre-signed batches (receipts of 5 lines, 1.5 marking codes on average, the codes loaded into "
        "its registry first) from spawned load generators; in the same run drive a decode-and-ack "
        "server (ceiling) and a straightforward pipeline (naive) with the same batches, then print "
        "throughput, ack latency, visibility lag, CPU and peak RSS, and the gateway's ratios to both "
        "baselines.",
    )
    parser.add_argument("--protocol", choices=("tracegate", "ofd"), default="tracegate",
                        help="tracegate: batches to POST /v1/batches (default); ofd: OFD 2.0.3 TICKET "
                        "requests to the OFD front door, one connection per exchange, against an OFD "
                        "decode-and-answer ceiling (--rate and --concurrency count documents and exchanges)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load per phase (20)")
    parser.add_argument("--devices", type=int, default=100, help="simulated registers, 50-500 (100)")
    parser.add_argument("--batch", type=int, default=20, help="receipts per request (20)")
    parser.add_argument("--receipts", type=int, default=0,
                        help=f"receipts to pre-sign (default {POOL_PER_SECOND}/s of duration, "
                        f"at most {POOL_MAX})")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="target receipts/s, paced (open loop); 0 = as fast as answered (default)")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight (64)")
    parser.add_argument("--load-procs", type=int, default=1, help="load generator processes (1)")
    parser.add_argument("--backlog-events", type=int, default=30_000,
                        help="chained events of the one-device backlog upload (30000: 72 h of a busy "
                        "register)")
    parser.add_argument("--backlog-batch", type=int, default=1_000, help="envelopes per backlog request")
    parser.add_argument("--check-rate", type=float, default=2000.0,
                        help="pre-sale checks a second (POST /v1/codes/check, open loop, from a process of "
                        "their own) against the gateway after its phases; 0 skips them (2000)")
    parser.add_argument("--check-seconds", type=float, default=10.0, help="length of the check phase (10)")
    parser.add_argument("--unknown-codes", action="store_true",
                        help="leave the gateway's code registry empty: every code sold is reported unknown "
                        "(an anomaly each), the costliest case")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, data)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line, last")
    parser.add_argument("--durability", action="store_true",
                        help="instead: what surviving a power cut costs the shipper (ClickHouse's fsyncs, "
                        "a filesystem sync a batch, or neither), each on a fresh embedded ClickHouse, with "
                        "--receipts records (default 60000) in batches of --batch (default 10000)")
    parser.add_argument("--rounds", type=int, default=3, help="with --durability: turns each way takes (3)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the bench and print the report."""
    if args.durability:
        return _durability(args)
    if args.duration <= 0 or args.devices < 1 or args.batch < 1:
        print("tracegate bench: --duration, --devices and --batch must be positive", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="tracegate-bench-"))
    try:
        report, figures = _measure(args, workdir)
        print(report)
        if args.json:
            print(json_line(figures))
    finally:
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _durability(args: argparse.Namespace) -> int:
    """`--durability`: the three ways of shipping, same records, same run (gateway/bench/durability.py)."""
    receipts = args.receipts or 60_000
    batch = args.batch if args.batch != 20 else 10_000  # the gateway bench's request size is no batch here
    results = run_durability(receipts, batch, max(1, args.rounds), lambda line: print(line, file=sys.stderr))
    print(durability_report(results))
    return 0


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _measure(args: argparse.Namespace, workdir: Path) -> tuple[str, dict[str, Any]]:
    """Run the bench of --protocol; its text report and figures."""
    receipts = args.receipts or min(POOL_MAX, max(2_000, int(args.duration * POOL_PER_SECOND)))
    receipts = max(receipts, args.devices)
    if args.protocol == "ofd":
        ofd = ofd_runner.run_ofd_bench(ofd_runner.OfdBenchOptions(
            duration_s=args.duration, devices=args.devices, receipts=receipts, concurrency=args.concurrency,
            rate=args.rate, load_procs=args.load_procs, workdir=workdir, registry=not args.unknown_codes,
        ), _progress)
        ofd_figures = ofd_runner.summary(ofd)
        return ofd_runner.text_report(ofd, ofd_figures), ofd_figures
    result = run_bench(BenchOptions(
        duration_s=args.duration, devices=args.devices, receipts=receipts, batch_size=args.batch,
        concurrency=args.concurrency, rate=args.rate, load_procs=args.load_procs,
        backlog_events=args.backlog_events, backlog_batch=args.backlog_batch, workdir=workdir,
        registry=not args.unknown_codes, check_rate=args.check_rate, check_duration_s=args.check_seconds,
    ), _progress)
    figures = summary(result)
    return text_report(result, figures), figures

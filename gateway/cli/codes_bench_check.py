"""`tracegate codes bench-check`: status-index memory at 10 M codes and /v1/codes/check p99 at 2,000/s."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gateway.cli.admin_client import AdminClient, AdminError, admin_token
from gateway.cli.codes import codes_subparsers
from gateway.cli.codes_import import gateway_sink, import_stream
from gateway.cli.main import add_common_options, settings_from_args
from gateway.service import running_gateway_url
from gateway.wire import signing


def register(subparsers: Any) -> None:
    """Add `codes bench-check`."""
    sub = codes_subparsers(subparsers)
    parser = sub.add_parser(
        "bench-check", help="measure status-index memory at 10 M codes and /v1/codes/check latency",
        description="1) build the in-memory status index with --index-codes codes and print the RSS it "
        "adds; 2) import --registry-codes codes into a gateway (the running one on --data, --gateway, or a "
        "temporary one started here), then send signed checks at --rate a second for --seconds, open loop, "
        "and print p50/p90/p99 latency measured from each request's scheduled time.",
    )
    add_common_options(parser)
    parser.add_argument("--gateway", default=None, help="gateway URL (default: running on --data, else temp)")
    parser.add_argument("--token", default=None, help="admin token (default: <data>/admin.token)")
    parser.add_argument("--rate", type=float, default=2000.0, help="checks a second (default 2000)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the run (default 10)")
    parser.add_argument("--registry-codes", type=int, default=20_000, help="codes imported first")
    parser.add_argument(
        "--index-codes", type=int, default=10_000_000, help="codes in the memory test (0 skips it)",
    )
    parser.set_defaults(func=run)


def _start_temporary_gateway(data: Path) -> tuple[subprocess.Popen[bytes], str]:
    from gateway.cli.demo import _free_port, _wait_ready

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    # One bench client from one address and device would hit the per-address/per-device rate limits
    # (gateway/security/rate_limits.py) long before the check path: they are off on this scratch gateway.
    unlimited = {f"TRACEGATE_RATE_{name}_PER_S": "0" for name in ("DEVICE", "TOKEN", "REMOTE", "CHECK")}
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli.main", "serve", "--data", str(data), "--port", str(port),
         "--log-level", "WARNING"],
        env={**os.environ, **unlimited},
    )
    _wait_ready(url, process)
    return process, url


def _latency(url: str, token: str, args: argparse.Namespace) -> None:
    from firmware_sim.fleet import SELLER_TINS
    from gateway.codes.check_bench import check_latency, sample_codes, signed_requests

    key = signing.new_private_key()
    device_id = f"bench-{int(time.time())}"
    AdminClient(url, token).call("POST", "/v1/admin/devices", {
        "device_id": device_id, "seller_tin": SELLER_TINS[0], "store_id": "BENCH-1",
        "public_key_pem": signing.public_key_pem(key.public_key()),
    })
    codes = sample_codes(args.registry_codes, seed=int(time.time()))
    registry = "".join(json.dumps({"code": c, "owner_tin": SELLER_TINS[0]}) + "\n" for c in codes)
    version = time.time_ns() // 1_000_000
    send = gateway_sink(url, token, version)
    imported, _ = import_stream(io.BytesIO(registry.encode()), send, 10_000, None)
    count = max(1, int(args.rate * args.seconds))
    print(f"check: imported {imported} codes; signing {count} check requests ahead …", flush=True)
    bodies = signed_requests(device_id, key, codes, count)
    figures = asyncio.run(check_latency(url, device_id, bodies, args.rate))
    print(f"check: {figures.sent} checks at {figures.rate_target:,.0f}/s target, "
          f"{figures.rate_achieved:,.0f}/s sent, {figures.ok} answered 200, {figures.errors} errors "
          f"{figures.error_kinds or ''}")
    print(f"check latency: p50 {figures.p50_ms:.1f} ms, p90 {figures.p90_ms:.1f} ms, "
          f"p99 {figures.p99_ms:.1f} ms, max {figures.max_ms:.1f} ms")


def run(args: argparse.Namespace) -> int:
    """Run both measurements and print the figures."""
    from gateway.codes.check_bench import index_memory

    if args.index_codes > 0:
        memory = index_memory(args.index_codes)
        print(f"index: {memory.codes:,} codes, RSS +{memory.rss_delta_bytes / 2**20:,.0f} MiB "
              f"({memory.bytes_per_code:.1f} bytes a code; arrays {memory.array_bytes / 2**20:,.0f} MiB), "
              f"built in {memory.build_s:.1f} s, {memory.lookups_per_s:,.0f} lookups/s", flush=True)
    settings = settings_from_args(args)
    url = args.gateway or running_gateway_url(settings)
    process = None
    scratch = None
    try:
        if url:
            token = admin_token(settings, args.token)
        else:
            scratch = tempfile.TemporaryDirectory(prefix="tracegate-bench-")
            process, url = _start_temporary_gateway(Path(scratch.name))
            token = (Path(scratch.name) / "admin.token").read_text().strip()
        _latency(url, token, args)
    except (AdminError, RuntimeError, OSError) as exc:
        print(f"tracegate codes bench-check: {exc}", file=sys.stderr)
        return 1
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
        if scratch is not None:
            scratch.cleanup()
    return 0

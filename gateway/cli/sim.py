"""`tracegate sim`: run a fleet of simulated registers against a gateway and print what came back."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from firmware_sim.code_registry import write_registry
from firmware_sim.fleet import SELLER_TINS, FleetConfig, RegistrationError, run_fleet
from gateway.settings import load_settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `sim` subcommand."""
    parser = subparsers.add_parser(
        "sim",
        help="run simulated cash registers against a gateway",
        description="Run N simulated registers for S seconds: each has its own P-256 key and signed, "
        "hash-chained journal, opens and closes shifts (Z-reports), sells, takes returns and uploads "
        "in order, resending the same bytes on failure. Prints a JSON summary of the acks at the end.",
    )
    parser.add_argument("--gateway", default="http://127.0.0.1:8080", help="gateway base URL")
    parser.add_argument("--devices", type=int, default=5, help="number of registers (default 5)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of selling (default 30)")
    parser.add_argument("--rate", type=float, default=2.0, help="receipts a second per register (default 2)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the content generator (default 1)")
    parser.add_argument(
        "--offline-fraction", type=float, default=0.0,
        help="share of the run each register spends offline, queueing (0..1, default 0)",
    )
    parser.add_argument(
        "--lost-ack-rate", type=float, default=0.0,
        help="share of answered batches whose answer is dropped, so they are resent (tests DUPLICATE)",
    )
    parser.add_argument(
        "--rotate-every", type=int, default=0, metavar="N",
        help="each register hands its chain to a new key (a signed KeyRotation) after N receipts "
        "(default 0: never)",
    )
    parser.add_argument(
        "--clock-skew", type=float, default=0.0, metavar="S",
        help="every register's clock runs S seconds ahead of real time (negative: behind; default 0)",
    )
    parser.add_argument(
        "--register", action="store_true", help="register the registers through the admin API first"
    )
    parser.add_argument("--token", default=None, help="admin token (default: read <data>/admin.token)")
    parser.add_argument(
        "--data", dest="data_dir", default=None,
        help="the gateway's data directory, to read admin.token from (default ./var, env TRACEGATE_DATA)",
    )
    parser.add_argument(
        "--state-dir", type=Path, default=None,
        help="keep keys, journals and queues here, so a later run continues each register's chain",
    )
    parser.add_argument("--ack-log", type=Path, default=None, help="write one JSON line per ack here")
    parser.add_argument(
        "--drain", type=float, default=15.0, help="seconds to upload the backlog after the run (default 15)"
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON summary, on one line")
    parser.add_argument(
        "--registry-out", type=Path, default=None,
        help="write the registry of marked goods the fleet of this --seed sells from (JSON lines, for "
        "`tracegate codes import`) and exit",
    )
    parser.add_argument(
        "--registry", type=Path, default=None,
        help="sell marked goods from this registry file (with unknown codes, clones, expired and blocked "
        "goods among them; some sales ask /v1/codes/check first)",
    )
    parser.set_defaults(func=run)


def _token(args: argparse.Namespace) -> str | None:
    if not args.register:
        return None
    if args.token:
        return str(args.token)
    token_file = load_settings({"data_dir": args.data_dir}).admin_token_file
    try:
        return token_file.read_text().strip()
    except OSError as exc:
        message = f"tracegate sim: --register needs --token or a readable {token_file}: {exc}"
        raise SystemExit(message) from exc


def run(args: argparse.Namespace) -> int:
    """Run the fleet; exit 0, or 1 if registration failed or the gateway never answered."""
    if args.registry_out is not None:
        count = write_registry(args.registry_out, list(SELLER_TINS), args.seed)
        print(f"wrote {count} codes of {len(SELLER_TINS)} sellers to {args.registry_out}", file=sys.stderr)
        return 0
    config = FleetConfig(
        gateway_url=args.gateway, devices=args.devices, duration_s=args.duration, seed=args.seed,
        rate=args.rate, offline_fraction=args.offline_fraction, lost_ack_rate=args.lost_ack_rate,
        state_dir=args.state_dir, drain_s=args.drain, ack_log=args.ack_log, token=_token(args),
        registry=args.registry, rotate_every=args.rotate_every, clock_skew_s=args.clock_skew,
    )
    if not args.json:
        what = f"{config.devices} registers for {config.duration_s:g} s against {config.gateway_url}"
        print(f"simulating {what}", file=sys.stderr)
    try:
        summary = asyncio.run(run_fleet(config))
    except RegistrationError as exc:
        print(f"tracegate sim: {exc}", file=sys.stderr)
        return 1
    report = summary.to_json()
    print(json.dumps(report) if args.json else json.dumps(report, indent=2))
    if summary.events_generated and not summary.stats.answered:
        print(f"tracegate sim: the gateway at {config.gateway_url} never answered", file=sys.stderr)
        return 1
    return 0

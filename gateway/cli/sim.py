"""`tracegate sim`: run a fleet of simulated registers against a gateway and print what came back."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from firmware_sim.code_registry import write_registry
from firmware_sim.fleet import SELLER_TINS, FleetConfig, RegistrationError, run_fleet
from firmware_sim.ofd.fleet import VERSIONS, OfdFleetConfig, run_ofd_fleet
from gateway.settings import load_settings

PROTOCOLS = ("tracegate", "ofd", "mixed")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `sim` subcommand."""
    parser = subparsers.add_parser(
        "sim",
        help="run simulated cash registers against a gateway",
        description="Run N simulated registers for S seconds: each has its own P-256 key and signed, "
        "hash-chained journal, opens and closes shifts (Z-reports), sells, takes returns and uploads "
        "in order, resending the same bytes on failure. Prints a JSON summary of the acks at the end. "
        "With --protocol ofd the registers speak OFD 2.0.3/2.0.2 to the gateway's OFD front door instead: "
        "one connection per exchange, INFO at start-up, rotating tokens, offline backlogs numbered by the "
        "register, Z reports from its own counters; --protocol mixed runs both kinds, half each.",
    )
    parser.add_argument("--gateway", default="http://127.0.0.1:8080", help="gateway base URL")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="tracegate",
                        help="what the registers speak: tracegate (our contract, default), ofd, or mixed")
    parser.add_argument("--ofd", default=None, metavar="HOST:PORT",
                        help="the OFD front door (default: where the gateway of --data listens for OFD)")
    parser.add_argument("--ofd-version", choices=VERSIONS, default="203",
                        help="OFD registers speak 2.0.3, 2.0.2, or mixed (every fourth 2.0.2); default 203")
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
        help="share of answered batches (OFD: documents) whose answer is dropped, so they are resent "
        "(tests DUPLICATE; OFD: the stored answer, byte for byte)",
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
    parser.add_argument(
        "--ack-log", type=Path, default=None,
        help="write one JSON line per ack here (OFD registers: one per answer to a document, with "
        '"protocol": "ofd", its REQNUM, result, shift and fiscal number)',
    )
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


def _ofd_address(args: argparse.Namespace) -> tuple[str, int]:
    """--ofd HOST:PORT, else the OFD address the running gateway of --data wrote into gateway.json."""
    address = args.ofd
    if address is None:
        runtime = load_settings({"data_dir": args.data_dir}).runtime_file
        try:
            address = json.loads(runtime.read_text())["ofd"][0]
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            message = f"tracegate sim: give --ofd HOST:PORT (no OFD front door in {runtime})"
            raise SystemExit(message) from None
    host, _, port = str(address).rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"tracegate sim: --ofd must be HOST:PORT, not {address!r}")
    return host, int(port)


def run(args: argparse.Namespace) -> int:
    """Run the fleet; exit 0, or 1 if registration failed, the gateway never answered or (OFD) a register
    was blocked."""
    if args.registry_out is not None:
        count = write_registry(args.registry_out, list(SELLER_TINS), args.seed)
        print(f"wrote {count} codes of {len(SELLER_TINS)} sellers to {args.registry_out}", file=sys.stderr)
        return 0
    ofd_devices = {"tracegate": 0, "ofd": args.devices, "mixed": args.devices // 2}[args.protocol]
    token = _token(args)
    if args.ack_log is not None:
        args.ack_log.write_text("")  # both fleets append to it
    config = FleetConfig(
        gateway_url=args.gateway, devices=args.devices - ofd_devices, duration_s=args.duration,
        seed=args.seed, rate=args.rate, offline_fraction=args.offline_fraction,
        lost_ack_rate=args.lost_ack_rate, state_dir=args.state_dir, drain_s=args.drain, ack_log=args.ack_log,
        token=token, registry=args.registry, rotate_every=args.rotate_every, clock_skew_s=args.clock_skew,
    )
    ofd_config = OfdFleetConfig(
        address=_ofd_address(args) if ofd_devices else ("", 0), gateway_url=args.gateway, devices=ofd_devices,
        duration_s=args.duration, seed=args.seed, rate=args.rate, version=args.ofd_version,
        offline_fraction=args.offline_fraction, lost_answer_rate=args.lost_ack_rate, drain_s=args.drain,
        token=token, registry=args.registry, state_dir=args.state_dir, ack_log=args.ack_log,
    )
    if not args.json:
        what = f"{args.devices} registers ({args.protocol}) for {args.duration:g} s against {args.gateway}"
        print(f"simulating {what}", file=sys.stderr)
    try:
        reports = asyncio.run(_run_fleets(config, ofd_config))
    except RegistrationError as exc:
        print(f"tracegate sim: {exc}", file=sys.stderr)
        return 1
    report: dict[str, Any] = reports[args.protocol] if args.protocol != "mixed" else reports
    print(json.dumps(report) if args.json else json.dumps(report, indent=2))
    ours, ofd = reports.get("tracegate"), reports.get("ofd")
    if ours and ours["events_generated"] and not ours["answered_requests"]:
        print(f"tracegate sim: the gateway at {config.gateway_url} never answered", file=sys.stderr)
        return 1
    if ofd and (ofd["blocked"] or not ofd["exchanges"]):
        trouble = f"blocked registers {ofd['blocked']}" if ofd["blocked"] else "no OFD answer at all"
        print(f"tracegate sim: {trouble}", file=sys.stderr)
        return 1
    return 0


async def _run_fleets(config: FleetConfig, ofd_config: OfdFleetConfig) -> dict[str, dict[str, Any]]:
    """Both kinds of fleet at once (either may have no registers); their summaries by protocol."""
    runs: dict[str, Any] = {}
    if config.devices:
        runs["tracegate"] = run_fleet(config)
    if ofd_config.devices:
        runs["ofd"] = run_ofd_fleet(ofd_config)
    results = await asyncio.gather(*runs.values())
    return {name: result.to_json() if name == "tracegate" else result
            for name, result in zip(runs, results, strict=True)}

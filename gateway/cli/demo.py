"""`tracegate demo`: gateway + simulated fleet on embedded chDB, then a summary read back from ClickHouse."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from firmware_sim.rogue import send_rogue_traffic
from gateway.anomaly_kinds import BY_NAME
from gateway.cli.admin_client import AdminClient, AdminError
from gateway.cli.demo_pages import point_at_pages, stop_or_keep
from gateway.i18n import translate


def register(sub: Any) -> None:
    """Add the demo subcommand."""
    parser = sub.add_parser(
        "demo",
        help="run gateway + simulated registers for a while and print what was stored",
        description="Start a gateway on embedded chDB in a fresh --data directory, let a simulated fleet "
        "of registers sell for --seconds (env DEMO_SECONDS, default 30), wait until everything acked is "
        "in ClickHouse, print a summary read back from it, and stop.",
    )
    parser.add_argument(
        "--data", default="var/demo", type=Path, help="data directory, wiped first (default var/demo)"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=float(os.environ.get("DEMO_SECONDS", "30")),
        help="how long the fleet sells (default 30, env DEMO_SECONDS)",
    )
    parser.add_argument("--devices", type=int, default=12, help="simulated registers (default 12)")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the simulation (default 2026)")
    parser.add_argument(
        "--keep-running", action="store_true", help="leave the gateway up at the end, for the pages"
    )
    parser.set_defaults(func=run)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(url: str, gateway: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if gateway.poll() is not None:
            raise RuntimeError("the gateway exited during start; its log is above")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("the gateway did not become ready")


def _accepted_in_ack_log(path: Path) -> set[tuple[str, int]]:
    accepted = set()
    with path.open() as f:
        for line in f:
            ack = json.loads(line)
            if ack["status"] == "ACCEPTED":
                accepted.add((ack["device_id"], int(ack["seq"])))
    return accepted


def _wait_shipped(client: AdminClient, expected: int, timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    summary = client.call("GET", "/v1/admin/summary")
    while time.monotonic() < deadline:
        if summary["events_stored"] >= expected and summary["journal_unshipped_bytes"] == 0:
            break
        time.sleep(0.5)
        summary = client.call("GET", "/v1/admin/summary")
    return summary


def _money(minor: int) -> str:
    return f"{minor / 100:,.2f}".replace(",", " ")


def print_summary(sim: dict[str, Any], summary: dict[str, Any], accepted: int, data: Path, port: int) -> bool:
    """Print the demo's report; returns True if every accepted event is stored exactly once."""
    stored, distinct = summary["events_stored"], summary["events_distinct"]
    exact: bool = stored == accepted == distinct
    by_status = sim.get("by_status", {})
    print("\n══════════ tracegate demo: what the registers sent and what ClickHouse holds ══════════")
    print(
        f"registers: {sim.get('devices')}   events sent: {sim.get('events_generated')}   "
        f"seconds: {sim.get('duration_s')}"
    )
    print("           (simulated registers; each receipt, shift open/close and cash movement is one event)")
    print("acks:      " + "   ".join(f"{k} {v}" for k, v in sorted(by_status.items())))
    print("           (the gateway's answers: ACCEPTED = journalled, promised to ClickHouse;"
          " DUPLICATE = a resend after a lost answer, same fiscal sign;"
          " REJECTED = not authentic or not well-formed)")
    rejected = sim.get("by_error_code", {})
    if rejected:
        print("rejected:  " + "   ".join(f"{k} {v}" for k, v in sorted(rejected.items())))
        print("           (the registers' rejections by error code; gateway/errors.py says what each means)")
    rogue = sim.get("rogue_rejections", {})
    if rogue:
        print("rogue:     " + "   ".join(f"{k} {v}" for k, v in sorted(rogue.items())))
        print("           (the stranger, forger, fork, gap and future clock sent on purpose, each refused)")
    print(
        f"stored:    events {stored} ({', '.join(f'{k} {v}' for k, v in summary['events_by_kind'].items())})"
    )
    print(f"           receipts {summary['receipts']}, receipt lines {summary['receipt_lines']}")
    print("           (read back from ClickHouse: events by kind; receipts and their lines are rows of them)")
    if summary["rejections_by_code"]:
        print(
            "           rejection records: "
            + ", ".join(f"{k} {v}" for k, v in summary["rejections_by_code"].items())
        )
        print("           (rejected events are kept too, for support: table rejections)")
    verdict = "equal: every accepted event is stored exactly once" if exact else "NOT EQUAL"
    print(f"check:     accepted {accepted} = stored {stored} = distinct (device, seq) {distinct}: {verdict}")
    print("           (acks counted from the registers' own log; stored and distinct rows from ClickHouse)")
    print("\ntotals per retailer (tenge; sales and returns of sale, net = sales - returns):")
    print(f"  {'SELLER TIN':<14}{'RECEIPTS':>9}{'SALES':>16}{'RETURNS':>14}{'NET':>16}")
    for row in summary["per_seller"]:
        print(
            f"  {row['seller_tin']:<14}{row['receipts']:>9}{_money(row['sales']):>16}"
            f"{_money(row['returns']):>14}{_money(row['net']):>16}"
        )
    print("\nanomalies found (the events were kept; these are for analysts, one row per finding):")
    for kind, count in summary["anomalies_by_kind"].items() or {"none": 0}.items():
        print(f"  {kind:<28}{count:>8}  {translate('en', f'kind.{kind}') if kind in BY_NAME else ''}")
    print(f"""
what to run next:
  .venv/bin/tracegate serve --data {data} --port {port}      # the gateway again, on this data
  .venv/bin/tracegate devices list --data {data}             # the registers it knows
  .venv/bin/tracegate anomalies --data {data} --kind code_clone   # the queue in a terminal
  .venv/bin/tracegate sql --data {data} "SELECT kind, count() FROM tracegate.anomalies GROUP BY kind"
  .venv/bin/tracegate sim --gateway http://127.0.0.1:{port} --data {data} --register --devices 5 --duration 20
  curl http://127.0.0.1:{port}/readyz                        # journal and shipper state
  make test                                                   # the whole test suite
  read README.md, proto/README.md (the wire contract) and ../shared/design/ for the design""")
    return exact


def run(args: argparse.Namespace) -> int:
    """Run the demo end to end; exit 1 if stored rows and accepted events disagree."""
    data: Path = args.data
    if data.exists():
        print(f"demo: wiping the previous demo data in {data}")
        shutil.rmtree(data)
    data.mkdir(parents=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    gateway = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway.cli.main",
            "serve",
            "--data",
            str(data),
            "--port",
            str(port),
            "--log-level",
            "WARNING",
        ],
    )
    kept = False
    try:
        _wait_ready(url, gateway)
        client = AdminClient(url, (data / "admin.token").read_text().strip())
        ack_log = data / "acks.jsonl"
        # Marked goods come from the operator's registry: the fleet's own, imported before it sells.
        registry = data / "registry.jsonl"
        print("demo: writing the registry of marked goods and importing it (tracegate codes import) …")
        main_module = [sys.executable, "-m", "gateway.cli.main"]
        subprocess.run([*main_module, "sim", "--registry-out", str(registry), "--seed", str(args.seed)],
                       check=True)
        subprocess.run([*main_module, "codes", "import", str(registry), "--data", str(data)], check=True)
        print(f"demo: {args.devices} registers sell for {args.seconds:g} s against {url} …", flush=True)
        sim = subprocess.run(
            [
                sys.executable,
                "-m",
                "gateway.cli.main",
                "sim",
                "--gateway",
                url,
                "--data",
                str(data),
                "--register",
                "--devices",
                str(args.devices),
                "--duration",
                str(args.seconds),
                "--seed",
                str(args.seed),
                "--ack-log",
                str(ack_log),
                "--json",
                "--registry",
                str(registry),
                "--offline-fraction",
                "0.25",
                "--lost-ack-rate",
                "0.05",
            ],
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
        sim_summary = json.loads(sim.stdout.strip().splitlines()[-1])
        print("demo: now a stranger, a forger, a fork, a gap and a clock from the future …", flush=True)
        rogue = send_rogue_traffic(url, client.token)
        accepted = len(_accepted_in_ack_log(ack_log)) + rogue.pop("ACCEPTED", 0)
        sim_summary["rogue_rejections"] = dict(rogue)
        summary = _wait_shipped(client, accepted)
        exact = print_summary(sim_summary, summary, accepted, data, port)
        sellers = summary.get("per_seller") or [{}]
        point_at_pages(client, url, sellers[0].get("seller_tin"))
        stop_or_keep(gateway, args.keep_running, url, data)
        kept = args.keep_running
    except (AdminError, RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if not kept:
            _stop(gateway)
    return 0 if exact else 1


def _stop(gateway: subprocess.Popen[bytes]) -> None:
    if gateway.poll() is None:
        gateway.send_signal(signal.SIGINT)
        try:
            gateway.wait(timeout=30)
        except subprocess.TimeoutExpired:
            gateway.kill()

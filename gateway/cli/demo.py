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
from gateway.cli.admin_client import AdminClient, AdminError
from gateway.cli.demo_pages import point_at_pages, stop_or_keep
from gateway.cli.demo_report import answered_in, print_summary


def register(sub: Any) -> None:
    """Add the demo subcommand."""
    parser = sub.add_parser(
        "demo",
        help="run gateway + simulated registers for a while and print what was stored",
        description="Start a gateway on embedded chDB in a fresh --data directory, with its OFD front door "
        "on a free loopback port, let a simulated fleet of registers sell for --seconds (env DEMO_SECONDS, "
        "default 30), half of them speaking our contract and half OFD 2.0.3 (every fourth 2.0.2), wait "
        "until everything acked is in ClickHouse, print a summary read back from it, and stop.",
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
    parser.add_argument("--devices", type=int, default=12,
                        help="simulated registers, half of them OFD ones (default 12)")
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


def _wait_shipped(client: AdminClient, expected: int, timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    summary = client.call("GET", "/v1/admin/summary")
    while time.monotonic() < deadline:
        if summary["events_stored"] >= expected and summary["journal_unshipped_bytes"] == 0:
            break
        time.sleep(0.5)
        summary = client.call("GET", "/v1/admin/summary")
    return summary


def run(args: argparse.Namespace) -> int:
    """Run the demo end to end; exit 1 if stored rows and accepted events disagree."""
    data: Path = args.data
    if data.exists():
        print(f"demo: wiping the previous demo data in {data}")
        shutil.rmtree(data)
    data.mkdir(parents=True)
    port, ofd_port = _free_port(), _free_port()
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
            "--ofd-port",
            str(ofd_port),
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
                "--protocol",
                "mixed",
                "--ofd",
                f"127.0.0.1:{ofd_port}",
                "--ofd-version",
                "mixed",
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
        rogue_accepted = rogue.pop("ACCEPTED", 0)
        sim_summary["rogue_rejections"] = dict(rogue)
        answered = answered_in(ack_log)
        summary = _wait_shipped(client, len(answered.accepted) + rogue_accepted + answered.ofd_events)
        exact = print_summary(sim_summary, summary, answered, rogue_accepted, data, port, ofd_port)
        sellers = summary.get("per_seller") or [{}]
        point_at_pages(client, url, sellers[0].get("seller_tin"))
        stop_or_keep(gateway, args.keep_running, url, data, ofd_port)
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

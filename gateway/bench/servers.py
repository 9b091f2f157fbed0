"""Start and stop the servers the bench drives (gateway, ceiling, naive) as separate processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.bench.procstat import ProcessUsage, usage_by_process
from gateway.bench.workload import DeviceLoad
from gateway.cli.codes_import import gateway_sink
from gateway.codes.registry_file import RegistryRow

START_TIMEOUT_S = 120


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    """One server under test: its process, URL and data directory."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    data: Path
    log_path: Path

    @classmethod
    def start(
        cls, name: str, args: list[str], data: Path, port: int, env: dict[str, str] | None = None
    ) -> ServerProcess:
        """Run `python -m <args>` (with env added to ours) and wait until /healthz answers."""
        data.mkdir(parents=True, exist_ok=True)
        log_path = data.parent / f"{name}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", *args], stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
            )
        server = cls(name, process, f"http://127.0.0.1:{port}", data, log_path)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited at start: {log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(server.url + "/healthz", timeout=2):
                    return server
            except OSError:
                time.sleep(0.2)
        server.stop()
        raise RuntimeError(f"{name} did not start within {START_TIMEOUT_S} s")

    def usage(self) -> list[ProcessUsage]:
        """CPU and peak RSS so far of the server process and of each of its children (the gateway's
        storage process), the server first."""
        return usage_by_process(self.name, self.process.pid)

    def stop(self) -> None:
        """SIGINT (clean shutdown), then kill if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    # ── the real gateway's admin API ──

    @property
    def token(self) -> str:
        """The gateway's admin token."""
        return (self.data / "admin.token").read_text().strip()

    def admin(self, path: str, payload: Any) -> Any:
        """POST JSON to an admin route; returns the decoded answer."""
        request = urllib.request.Request(
            self.url + path, data=json.dumps(payload).encode(), method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def sql(self, query: str) -> list[list[Any]]:
        """Rows of a read-only query through /v1/admin/sql."""
        return list(self.admin("/v1/admin/sql", {"query": query})["rows"])


def registration(device: DeviceLoad) -> dict[str, str]:
    """The admin API's device registration body."""
    return {"device_id": device.device_id, "seller_tin": device.seller_tin, "store_id": device.store_id,
            "public_key_pem": device.public_key_pem}


# The whole fleet comes from one loopback address here; in the field each store has its own. The
# per-address limit (docs/security.md) would throttle the bench at 200 requests/s, so the bench's
# gateway raises it; the per-device and per-token limits stay as configured.
BENCH_GATEWAY_ENV = {
    "TRACEGATE_RATE_REMOTE_PER_S": "1000000", "TRACEGATE_RATE_REMOTE_BURST": "1000000",
    "TRACEGATE_OFD_RATE_REMOTE_PER_S": "1000000", "TRACEGATE_OFD_RATE_REMOTE_BURST": "1000000",
    "TRACEGATE_OFD_MAX_CONNECTIONS": "100000",
    # The check phase's one register asks 2,000 times a second (a register's limit is 10/s): off.
    "TRACEGATE_RATE_CHECK_PER_S": "0",
    # A small fleet (--devices 5) at full speed sends each register's batches far faster than a real
    # register's 20/s; the default fleet of 100 at 10,000 receipts/s sends 5/s each, under it anyway.
    "TRACEGATE_RATE_DEVICE_PER_S": "0",
}


REGISTRY_ROWS_PER_CHUNK = 50_000


def start_gateway(
    data: Path, devices: list[DeviceLoad], registry: Iterable[list[RegistryRow]] = (), *,
    serve_args: Sequence[str] = (),
) -> ServerProcess:
    """`tracegate serve` (with serve_args) on a fresh data directory, with the bench's devices registered
    and the registry rows imported (as `tracegate codes import` does it, through the gateway)."""
    port = free_port()
    server = ServerProcess.start(
        "gateway",
        ["gateway.cli.main", "serve", "--data", str(data), "--port", str(port), "--log-level", "WARNING",
         *serve_args],
        data, port, env=BENCH_GATEWAY_ENV,
    )
    for device in devices:
        server.admin("/v1/admin/devices", registration(device))
    send = gateway_sink(server.url, server.token, version=1)
    for chunk in registry:
        send(chunk)
    return server


def start_ceiling(data: Path) -> ServerProcess:
    """The decode-and-ack server."""
    port = free_port()
    return ServerProcess.start("ceiling", ["gateway.bench.ceiling", "--port", str(port)], data, port)


def start_ofd_ceiling(data: Path) -> tuple[ServerProcess, int]:
    """The OFD decode-and-answer server, and the port of its OFD door."""
    port, ofd_port = free_port(), free_port()
    args = ["gateway.bench.ofd_ceiling", "--port", str(port), "--ofd-port", str(ofd_port)]
    server = ServerProcess.start("ofd-ceiling", args, data, port)
    return server, ofd_port


def start_naive(data: Path, devices: list[DeviceLoad]) -> ServerProcess:
    """The straightforward-pipeline server, with the devices in its registry."""
    port = free_port()
    data.mkdir(parents=True, exist_ok=True)
    devices_file = data.parent / "naive-devices.json"
    devices_file.write_text(json.dumps([registration(d) for d in devices]))
    return ServerProcess.start(
        "naive",
        ["gateway.bench.naive", "--port", str(port), "--data", str(data), "--devices", str(devices_file)],
        data, port,
    )

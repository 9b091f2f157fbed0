"""The real `tracegate serve` process for end-to-end and fault runs: start, SIGKILL, restart, inspect."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.wire import pb

PROTOBUF = "application/x-protobuf"
START_TIMEOUT_S = 90.0


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class GatewayProcess:
    """One data directory served by successive gateway processes (each restart reuses port and data)."""

    data: Path
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    serve_args: tuple[str, ...] = ()  # more `tracegate serve` flags (TLS …)
    ssl_context: ssl.SSLContext | None = None  # set: the gateway serves HTTPS, reached as host
    host: str = "127.0.0.1"
    code: Path | None = None  # run the gateway of another source tree (make attack --code); None: this one
    process: subprocess.Popen[bytes] | None = None
    logs: Path | None = None  # where the log and the fault file go (default: beside the data directory)
    starts: int = 0
    start_times_s: list[float] = field(default_factory=list)

    @property
    def url(self) -> str:
        """Base URL."""
        return f"{'https' if self.ssl_context else 'http'}://{self.host}:{self.port}"

    @property
    def fault_file(self) -> Path:
        """The fault-injection file this gateway watches (TRACEGATE_FAULT_INJECTION_FILE)."""
        return (self.logs or self.data.parent) / f"{self.data.name}.fault"

    @property
    def log_path(self) -> Path:
        """Output of every process of this gateway, appended (a pipe nobody reads could block it)."""
        return (self.logs or self.data.parent) / f"{self.data.name}.log"

    @property
    def token(self) -> str:
        """The admin token."""
        return (self.data / "admin.token").read_text().strip()

    def spawn(self) -> subprocess.Popen[bytes]:
        """Start a process without waiting for it to serve."""
        env = dict(os.environ)
        env["TRACEGATE_FAULT_INJECTION_FILE"] = str(self.fault_file)
        env.update(self.env)
        with self.log_path.open("ab") as log:
            log.write(f"\n--- start {self.starts + 1} ---\n".encode())
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway.cli.main", "serve", "--data", str(self.data),
                 "--port", str(self.port), "--log-level", "WARNING", *self.serve_args],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.code,
            )
        self.starts += 1
        return self.process

    def start(self) -> float:
        """Start and wait until /healthz answers; returns the seconds it took."""
        began = time.monotonic()
        process = self.spawn()
        while time.monotonic() - began < START_TIMEOUT_S:
            if process.poll() is not None:
                raise RuntimeError(f"gateway exited with {process.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2, context=self.ssl_context):
                    took = time.monotonic() - began
                    self.start_times_s.append(took)
                    return took
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"gateway did not start in {START_TIMEOUT_S} s: {self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, exactly like a power cut for the process."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self.process = None

    def stop(self) -> None:
        """Graceful stop (SIGINT), killing it if it hangs."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def set_fault(self, fault: str | None) -> None:
        """Inject a storage fault (storage_down, storage_lost_reply) or heal (None)."""
        if fault is None:
            self.fault_file.unlink(missing_ok=True)
        else:
            self.fault_file.write_text(fault)

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the gateway's output."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def rss_kib(self) -> int:
        """Resident memory of the running process (KiB)."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def request(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None,
                token: str | None = None, timeout: float = 60, headers: dict[str, str] | None = None,
                ) -> tuple[int, dict[str, str], bytes]:
        """One HTTP request; any status is returned, not raised."""
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
        if content_type:
            req.add_header("Content-Type", content_type)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self.ssl_context) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def post_batch(self, envelopes: list[pb.Envelope]) -> tuple[int, dict[str, str], bytes]:
        """POST one IngestBatch."""
        body = pb.IngestBatch(envelopes=envelopes).SerializeToString()
        return self.request("POST", "/v1/batches", body, PROTOBUF)

    def ingest(self, envelopes: list[pb.Envelope]) -> pb.IngestAck:
        """POST one IngestBatch that must be answered 200; its acks."""
        status, _, body = self.post_batch(envelopes)
        assert status == 200, body
        return pb.IngestAck.FromString(body)

    def admin(self, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
        """An admin API call with the data directory's token."""
        data = json.dumps(payload).encode() if payload is not None else None
        status, _, body = self.request(method, path, data, "application/json" if data else None, self.token)
        return status, json.loads(body)

    def sql(self, query: str) -> list[list[Any]]:
        """Rows of a read-only query (through the gateway: chDB belongs to its process)."""
        status, answer = self.admin("POST", "/v1/admin/sql", {"query": query})
        if status != 200:
            raise RuntimeError(f"sql failed ({status}): {answer}")
        return list(answer["rows"])

    def readyz(self) -> tuple[int, dict[str, Any]]:
        """Status and body of /readyz."""
        status, _, body = self.request("GET", "/readyz", timeout=10)
        return status, json.loads(body)

    def wait_drained(self, timeout_s: float = 120) -> float:
        """Wait until the journal is fully shipped and /readyz says ready; returns the seconds waited."""
        began = time.monotonic()
        body: dict[str, Any] = {}
        while time.monotonic() - began < timeout_s:
            try:
                status, body = self.readyz()
            except (OSError, ValueError):
                status = 0
            if status == 200 and body.get("journal_unshipped_bytes") == 0:
                return time.monotonic() - began
            time.sleep(0.2)
        raise AssertionError(f"journal not drained in {timeout_s} s: {body}")

    def wait_shipped(self, expected_events: int, timeout_s: float = 60) -> None:
        """Wait until the journal is drained and at least expected_events rows are in events."""
        deadline = time.monotonic() + timeout_s
        summary: dict[str, Any] = {}
        while time.monotonic() < deadline:
            _, summary = self.admin("GET", "/v1/admin/summary")
            if summary["journal_unshipped_bytes"] == 0 and summary["events_stored"] >= expected_events:
                return
            time.sleep(0.3)
        raise AssertionError(f"not shipped in time: {summary}")

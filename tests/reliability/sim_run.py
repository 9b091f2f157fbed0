"""Load for the fault runs: `tracegate sim` as a process writing an ack log; a scenario's result."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firmware_sim.journal import EventJournal
from gateway.wire import pb
from tests.reliability.gateway_process import GatewayProcess
from tests.reliability.ledger import AckLedger, Verdict
from tests.reliability.ofd_ledger import OfdAnswers


@dataclass
class ScenarioResult:
    """One row of the reliability table."""

    scenario: str
    verdict: Verdict
    recover_s: float
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every promise held."""
        return not self.verdict.problems


class SimRun:
    """A fleet of simulated registers uploading to a gateway, surviving its restarts by resending."""

    def __init__(self, gateway: GatewayProcess, workdir: Path, *, devices: int, duration_s: float,
                 rate: float, lost_ack_rate: float = 0.0, drain_s: float = 90.0, seed: int = 7,
                 rotate_every: int = 0, extra: tuple[str, ...] = ()) -> None:
        self.gateway = gateway
        self.devices = devices
        self.ack_log = workdir / "acks.jsonl"
        self.registers = workdir / "registers"  # each register's key, state and journal of what it signed
        self._out = workdir / "sim.out"
        self._err = workdir / "sim.err"
        args = [
            sys.executable, "-m", "gateway.cli.main", "sim", "--gateway", gateway.url,
            "--devices", str(devices), "--duration", str(duration_s), "--rate", str(rate),
            "--seed", str(seed), "--lost-ack-rate", str(lost_ack_rate), "--drain", str(drain_s),
            "--register", "--data", str(gateway.data), "--ack-log", str(self.ack_log), "--json",
            "--rotate-every", str(rotate_every), "--state-dir", str(self.registers), *extra,
        ]
        with self._out.open("wb") as out, self._err.open("wb") as err:
            self.process = subprocess.Popen(args, stdout=out, stderr=err)

    def wait_registered(self, timeout_s: float = 60.0) -> None:
        """Block until the fleet's registers are registered: a fault injected earlier would fail that."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.running():
            status, answer = self.gateway.admin("GET", "/v1/admin/devices")
            names = [d["device_id"] for d in answer.get("devices", [])] if status == 200 else []
            if sum(name.startswith("sim") for name in names) >= self.devices:
                return
            time.sleep(0.2)
        raise RuntimeError(f"the simulator did not register its {self.devices} registers")

    def running(self) -> bool:
        """True while the fleet still sells or drains."""
        return self.process.poll() is None

    def wait(self, timeout_s: float) -> dict[str, Any]:
        """Wait for the fleet to finish; its JSON summary."""
        code = self.process.wait(timeout=timeout_s)
        if code != 0:
            raise RuntimeError(f"sim exited {code}: {self._err.read_text()[-2000:]}")
        summary: dict[str, Any] = json.loads(self._out.read_text().strip().splitlines()[-1])
        return summary

    def ofd_answers(self) -> OfdAnswers:
        """What the OFD registers of the fleet were answered OK (the ack log's OFD lines)."""
        return OfdAnswers.from_ack_log(self.ack_log)

    def ledger(self) -> AckLedger:
        """What the registers were told (the ack log) and what they signed (their own journals)."""
        ledger = AckLedger.from_ack_log(self.ack_log)
        for journal in sorted(self.registers.glob("*/journal.bin")):
            for raw in EventJournal(journal).records():
                envelope = pb.Envelope.FromString(raw)
                ledger.signed[(envelope.device_id, envelope.seq)] = envelope
        return ledger

    def kill(self) -> None:
        """Stop the fleet if it still runs (cleanup after a failed scenario)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def settled_problems(summary: dict[str, Any]) -> list[str]:
    """Problems with how the fleet ended: every register must have its whole queue settled (and, OFD
    registers of `--protocol mixed`, none blocked, every resent answer the stored one)."""
    ours, ofd = summary.get("tracegate", summary), summary.get("ofd", {})
    problems = []
    if ours.get("events_queued", 0):
        problems.append(f"{ours['events_queued']} events still queued on registers when the run ended")
    if ofd.get("documents_queued", 0):
        problems.append(f"{ofd['documents_queued']} documents still queued on OFD registers at the end")
    if ofd.get("blocked"):
        problems.append(f"OFD registers blocked: {ofd['blocked']}")
    if ofd.get("replay_mismatches"):
        problems.append(f"{ofd['replay_mismatches']} resends answered with other bytes than the lost answer")
    return problems

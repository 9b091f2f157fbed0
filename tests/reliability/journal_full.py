"""Scenario 4: journal over budget, disk full, directory read-only: 503 + Retry-After, then recovery."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from gateway.wire import pb
from tests.e2e.chain_builder import ChainedRegister
from tests.reliability.direct_register import keep_signed, log_acks, register_device, signed_sales
from tests.reliability.gateway_process import GatewayProcess
from tests.reliability.ledger import AckLedger, judge_all
from tests.reliability.sim_run import ScenarioResult, SimRun, settled_problems


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@contextlib.contextmanager
def small_disk(directory: Path, size: str) -> Iterator[bool]:
    """A tmpfs of `size` mounted on directory (True), or nothing when mounting is not allowed (False)."""
    directory.mkdir(parents=True, exist_ok=True)
    mounted = _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory))
    try:
        yield mounted
    finally:
        # A read-only bind mount may still sit on top of the tmpfs if a check failed midway.
        while mounted:
            mounted = subprocess.run(["umount", "-l", str(directory)], capture_output=True).returncode == 0


class Filler:
    """A register that keeps sending new sales, resending a refused batch (in order) like firmware does."""

    def __init__(self, gateway: GatewayProcess, register: ChainedRegister, ledger: AckLedger) -> None:
        self.gateway = gateway
        self.register = register
        self.ledger = ledger
        self.pending: list[pb.Envelope] = []

    def send(self, count: int) -> tuple[int, dict[str, Any], str]:
        """Send the refused batch again, or `count` new sales; (status, JSON body if refused, Retry-After)."""
        batch = self.pending or signed_sales(self.register, count)
        keep_signed(self.ledger, batch)
        status, headers, body = self.gateway.post_batch(batch)
        if status == 200:
            log_acks(body, self.ledger)
            self.pending = []
            return status, {}, ""
        self.pending = batch
        return status, json.loads(body), headers.get("Retry-After", "")


def _probe(filler: Filler, probe: Filler, count: int, what: str, problems: list[str],
           heal: Callable[[], object]) -> float:
    """Fill the journal until refused, check the refusal, heal(), then resend until accepted; time it."""
    deadline = time.monotonic() + 60
    status, retry_after = 0, ""
    body: dict[str, Any] = {}
    while time.monotonic() < deadline and status != 503:
        status, body, retry_after = filler.send(count)
    if status != 503 or body.get("error") != "backpressure" or not retry_after.isdigit():
        problems.append(f"{what}: expected 503 backpressure with Retry-After, got {status} {body}")
    # A full disk is not all-or-nothing: a smaller batch may still fit (and is then rightly accepted).
    # Keep sending small ones until they are refused too, so the probe is pending over the heal.
    while time.monotonic() < deadline and probe.send(5)[0] != 503:
        pass
    if not probe.pending:
        problems.append(f"{what}: small batches were never refused")
    healed = time.monotonic()
    heal()
    while time.monotonic() < healed + 60 and (probe.pending or filler.pending):
        probe.send(5)
        filler.send(count)
        time.sleep(0.1)
    if probe.pending or filler.pending:
        problems.append(f"{what}: refused batches still not accepted 60 s after the heal")
    return time.monotonic() - healed


def run_journal_full(workdir: Path, *, short: bool) -> ScenarioResult:
    """Budget exhausted under simulator load; then (where mounting is allowed) a full and a read-only disk."""
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "data"
    problems: list[str] = []
    notes: list[str] = []
    ledger = AckLedger()
    recover: list[float] = []
    journal = data / "journal"
    with small_disk(journal, "512k") as mounted:
        gateway = GatewayProcess(data, env={
            "TRACEGATE_JOURNAL_BUDGET_BYTES": "120000", "TRACEGATE_JOURNAL_SEGMENT_BYTES": "32768",
            "TRACEGATE_SHIPPER_INTERVAL_S": "0.2"})
        gateway.start()
        sim = SimRun(gateway, workdir, devices=3, duration_s=30.0 if short else 120.0, rate=8.0)
        try:
            probe = Filler(gateway, register_device(gateway, "FULL-PROBE"), ledger)
            filler = Filler(gateway, register_device(gateway, "FULL-FILLER"), ledger)
            sim.wait_registered()
            time.sleep(2.0)
            gateway.set_fault("storage_down")  # nothing ships: the budget runs out
            recover.append(_probe(filler, probe, 1, "budget", problems, lambda: gateway.set_fault(None)))
            summary = sim.wait(timeout_s=400)
            if not summary["request_errors"].get("backpressure"):
                problems.append(f"the simulator never met back-pressure: {summary['request_errors']}")
            problems += settled_problems(summary)
            ledger_sim = sim.ledger()
            notes.append(f"budget 120000 B: simulator got {summary['request_errors']}")
            if mounted:
                gateway.wait_drained()
                gateway.stop()
                gateway.env["TRACEGATE_JOURNAL_BUDGET_BYTES"] = str(2 * 1024**3)
                gateway.start()
                gateway.set_fault("storage_down")
                # Disk full: the 512 KiB tmpfs fills; "space returns" when the operator grows it.
                recover.append(_probe(
                    filler, probe, 20, "disk full", problems,
                    lambda: _heal_disk(gateway, journal)))
                gateway.wait_drained()
                notes.append("disk full (512 KiB tmpfs) refused with 503, recovered when it grew")
                recover.append(_read_only(data / "journal", filler, probe, problems))
                notes.append("read-only journal dir (ro bind mount) refused with 503, recovered when rw")
            else:
                notes.append("SKIPPED disk-full and read-only variants: mounting a tmpfs is not allowed here")
            gateway.wait_drained()
            for key in ledger_sim.accepted | ledger_sim.duplicates:
                ledger.accepted.add(key)
            for key, signs in ledger_sim.signs.items():
                ledger.signs[key] |= signs
            ledger.signed.update(ledger_sim.signed)
            verdict = judge_all(gateway, ledger)
            verdict.problems += problems
        finally:
            sim.kill()
            gateway.stop()
    return ScenarioResult("journal full / disk full / read-only", verdict, max(recover), notes)


def _heal_disk(gateway: GatewayProcess, journal: Path) -> None:
    """Storage back and space returned (the operator grew the volume)."""
    gateway.set_fault(None)
    _mount("-o", "remount,size=8m", str(journal))


def _read_only(journal: Path, filler: Filler, probe: Filler, problems: list[str]) -> float:
    """A read-only bind mount over the journal directory: new segments cannot be made, so appends fail."""
    if not (_mount("--bind", str(journal), str(journal)) and _mount("-o", "remount,bind,ro", str(journal))):
        problems.append("read-only: bind mount failed")
        return 0.0
    return _probe(filler, probe, 20, "read-only", problems,
                  lambda: subprocess.run(["umount", str(journal)], capture_output=True))

"""Scenario 6: power cuts. The data directory lives on a filesystem that forgets every write not fsynced
(lazyfs.py); the gateway and its filesystem are killed together, the filesystem is mounted again over
what reached the disk, and the gateway restarts on it. A SIGKILL alone would not do: a killed process
leaves its writes in the page cache, where the next one finds them."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.reliability.gateway_process import GatewayProcess
from tests.reliability.ledger import judge_all
from tests.reliability.sim_run import ScenarioResult, SimRun, settled_problems

MOUNT_TIMEOUT_S = 20.0
# Small segments and a fast shipper: cuts land after segments were deleted, mid-insert, mid-checkpoint.
POWER_CUT_ENV = {"TRACEGATE_JOURNAL_SEGMENT_BYTES": "16384", "TRACEGATE_SHIPPER_INTERVAL_S": "0.1"}


def missing_requirement() -> str | None:
    """Why a lazy filesystem cannot be mounted here, or None (CI installs them: `make test`)."""
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is missing"
    if shutil.which("fusermount3") is None:
        return "fusermount3 is missing: install Debian's fuse3 (`make fuse`, run by `make test`)"
    try:
        import mfusepy  # noqa: F401
    except (ImportError, OSError) as exc:
        return f"mfusepy or libfuse3 is missing ({exc}): `make fuse` and the dev extras install them"
    return None


class LazyMount:
    """A lazyfs.py filesystem over a backing directory: mounted, cut, mounted again."""

    def __init__(self, root: Path) -> None:
        self.backing = root / "disk"
        self.mountpoint = root / "mnt"
        self.log = root / "lazyfs.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.cuts = 0

    def mount(self) -> None:
        """Serve the backing directory at the mountpoint; wait until it is mounted."""
        self.backing.mkdir(parents=True, exist_ok=True)
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.reliability.lazyfs", str(self.backing), str(self.mountpoint)],
                stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + MOUNT_TIMEOUT_S
        while not os.path.ismount(self.mountpoint):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the lazy filesystem did not mount: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)

    def cut(self) -> None:
        """The power goes: whatever was not fsynced dies with the filesystem's process."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self.process = None
        subprocess.run(["fusermount3", "-u", "-z", str(self.mountpoint)], capture_output=True)
        self.cuts += 1


def _cut_and_restart(gateway: GatewayProcess, disk: LazyMount) -> float:
    """Kill the gateway and the filesystem at once, mount what reached the disk, restart; restart time."""
    gateway.kill()
    disk.cut()
    time.sleep(0.5)  # the storage process sees its parent gone (it polls every 0.2 s) and exits
    disk.mount()
    return gateway.start()


def run_power_cut(workdir: Path, *, short: bool) -> ScenarioResult:
    """3 (short) or 10 power cuts at random moments while 3 registers sell, some acks lost; then one more
    once everything is shipped (what ClickHouse confirmed must be on its disk too)."""
    cuts = 3 if short else 10
    duration_s = 30.0 if short else 150.0
    problem = missing_requirement()
    if problem is not None:
        raise RuntimeError(f"the power-cut scenario needs FUSE: {problem}")
    workdir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(17)
    disk = LazyMount(workdir)
    disk.mount()
    gateway = GatewayProcess(disk.mountpoint / "data", env=dict(POWER_CUT_ENV), logs=workdir)
    sim: SimRun | None = None
    restarts: list[float] = []
    try:
        gateway.start()
        sim = SimRun(gateway, workdir, devices=3, duration_s=duration_s, rate=6.0, lost_ack_rate=0.05,
                     drain_s=180.0)
        sim.wait_registered()
        for _ in range(cuts):
            time.sleep(rng.uniform(2.0, 2 * duration_s / cuts - 2.0))
            restarts.append(_cut_and_restart(gateway, disk))
        summary = sim.wait(timeout_s=duration_s + 300)
        gateway.wait_drained()
        restarts.append(_cut_and_restart(gateway, disk))  # everything confirmed: it must all be on disk
        gateway.wait_drained()
        ledger = sim.ledger()
        verdict = judge_all(gateway, ledger)
        verdict.problems += settled_problems(summary)
        # "ignored": parts a merge had replaced, not yet removed at the cut (their rows are in the merged
        # part); "broken…": a part ClickHouse confirmed and lost, which migration 0008 is there to prevent.
        detached = dict(gateway.sql("SELECT reason, count() FROM system.detached_parts "
                                    "WHERE database = 'tracegate' GROUP BY reason"))
        if any(str(reason).startswith("broken") for reason in detached):
            verdict.problems.append(f"parts broken by the cuts: {detached}")
        notes = [f"{cuts + 1} power cuts (unsynced writes forgotten), {len(ledger.duplicates)} duplicates "
                 f"answered, detached parts by reason {detached}, request errors {summary['request_errors']}"]
    finally:
        if sim is not None:
            sim.kill()
        gateway.stop()
        disk.cut()
    return ScenarioResult(f"power cut (x{cuts + 1})", verdict, max(restarts), notes)

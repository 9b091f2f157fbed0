"""CPU seconds and peak RSS of a process, read from /proc (psutil is not a dependency)."""

from __future__ import annotations

import os
from dataclasses import dataclass

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcessUsage:
    """What one process has used so far: CPU seconds (user + system) and peak resident memory."""

    name: str
    pid: int
    cpu_s: float
    peak_rss_mib: float

    def as_json(self) -> dict[str, object]:
        """JSON-friendly form."""
        return {"name": self.name, "pid": self.pid, "cpu_s": round(self.cpu_s, 2),
                "peak_rss_mib": round(self.peak_rss_mib, 1)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of pid (its own threads, not its children)."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    # The command name (field 2) may hold spaces; the fields after its closing parenthesis are fixed.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _CLOCK_TICKS


def peak_rss_mib(pid: int) -> float:
    """VmHWM (peak resident set) of pid in MiB; 0 if the kernel does not say."""
    return _status_mib(pid, "VmHWM:")


def rss_mib(pid: int) -> float:
    """VmRSS (resident set now) of pid in MiB; 0 if the kernel does not say."""
    return _status_mib(pid, "VmRSS:")


def _status_mib(pid: int, field: str) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    return 0.0


def usage(name: str, pid: int) -> ProcessUsage:
    """Both figures of a live process."""
    return ProcessUsage(name, pid, cpu_seconds(pid), peak_rss_mib(pid))


def child_pids(pid: int) -> list[int]:
    """The live direct children of pid (the gateway's storage process), [] if unknown."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(child) for child in f.read().split()]
    except OSError:
        return []


def process_name(pid: int) -> str:
    """The kernel's name of pid (/proc/<pid>/comm: the gateway's children name themselves)."""
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


def usage_by_process(name: str, pid: int) -> list[ProcessUsage]:
    """A process (as name) and each of its live children (by their own names)."""
    parts = [usage(name, pid)]
    for child in child_pids(pid):
        try:
            parts.append(usage(process_name(child), child))
        except OSError:  # it ended meanwhile
            continue
    return parts


def combined(name: str, pid: int, parts: list[ProcessUsage]) -> ProcessUsage:
    """Processes counted as one: CPU seconds added, peak RSS added (an upper bound)."""
    return ProcessUsage(name, pid, sum(p.cpu_s for p in parts), sum(p.peak_rss_mib for p in parts))


"""Names for the gateway's child processes, so ps, top and the bench tell them apart."""

from __future__ import annotations

import contextlib

STORAGE = "tg-storage"


def set_process_name(name: str) -> None:
    """Name this process (Linux: /proc/self/comm, at most 15 bytes; elsewhere nothing happens)."""
    with contextlib.suppress(OSError), open("/proc/self/comm", "w") as comm:
        comm.write(name[:15])

"""The sweep for events accepted twice (on a cluster): each flagged with a double_acceptance anomaly."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.storage.chain_heads import sweep_double_acceptances
from gateway.storage.client import Storage

log = logging.getLogger(__name__)

OVERLAP_MS = 60_000  # each sweep reads back a minute before the last one: slow inserts are not missed


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class AcceptanceSweepStats:
    """What the sweep did since start (tracegate_acceptance_sweep_*, tracegate_double_acceptances_total)."""

    sweeps: int = 0
    failures: int = 0
    found: int = 0


@dataclass
class AcceptanceSweep:
    """Finds events stored more than once and flags each (chain_heads in Keeper should leave none)."""

    watermark_ms: int = 0  # copies received before this were swept (0: the lookback of the first sweep)
    stats: AcceptanceSweepStats = field(default_factory=AcceptanceSweepStats)
    clock: Callable[[], int] = _now_ms

    async def sweep_once(self, storage: Storage) -> list[tuple[str, int]]:
        """One sweep; the (device, seq) found stored twice since the last one."""
        now = self.clock()
        since = (self.watermark_ms or now) - OVERLAP_MS
        found = await storage.run(lambda c: sweep_double_acceptances(c, storage.database, since, now))
        self.watermark_ms = now
        self.stats.sweeps += 1
        self.stats.found += len(found)
        for device_id, seq in found:
            log.error("event %s/%d is stored more than once (accepted by two gateway nodes): flagged "
                      "double_acceptance", device_id, seq)
        return found


async def sweep_forever(sweep: AcceptanceSweep, storage: Storage, interval_s: float) -> None:
    """Sweep every interval_s until cancelled; a failed sweep is retried at the next one."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await sweep.sweep_once(storage)
        except Exception as exc:
            sweep.stats.failures += 1
            log.warning("the double-acceptance sweep failed: %s", type(exc).__name__)

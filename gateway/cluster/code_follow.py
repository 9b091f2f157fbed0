"""Each node follows the others' code moves, and a sweep flags the double sales that slipped between them.

On a cluster every gateway node judges sales against its own in-memory status index. The follower reads,
every `code_follow_interval_s`, the codes other gateways sold or returned (rows of `code_events` inserted
since its watermark, by ClickHouse's insert time) and sets each to its latest move over all gateways, so
a code sold through node 1 is `already_sold` on node 2 a few seconds later. A sale on two nodes inside
that window is accepted by both; the sweep (one node, every `code_sweep_interval_s`) finds such pairs in
storage and writes the `code_sold_twice` / `code_clone` anomalies ingest would have written.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from gateway.codes.status_index import StatusIndex
from gateway.storage.client import Storage
from gateway.storage.code_follow import LatestMoves, latest_moves, sweep_double_sales, sweeping_gateway

log = logging.getLogger(__name__)

# Rows are read again this far behind the newest insert seen: an insert that started earlier but became
# visible later (a long insert, a replica a little behind, clocks of ClickHouse servers) is still read.
OVERLAP_MS = 5_000
APPLY_BATCH = 500  # moves applied between two yields to the event loop (~4 µs each: ~2-5 ms)
# The sweep looks only at sales inserted this long ago: the anomalies of the same shipment (inserted just
# after the code_events rows) have landed, so a sale flagged at ingest is not flagged again.
SETTLE_MS = 30_000
SWEEP_LOOKBACK_MS = 3_600_000  # at start, and the most a sweep reads back
# A swept sale's earlier moves are read this far back by insert time (all of them for a sale received
# before that: a late shipper's): a race partner inserted earlier than this was followed in time.
SWEEP_HISTORY_MS = 600_000
SWEEPER_WINDOW_S = 600  # the sweeping node: the smallest gateway id that stored code rows this recently


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class FollowStats:
    """What the follower and the sweep did (for /metrics)."""

    rounds: int = 0
    failures: int = 0
    moves_applied: int = 0
    last_round_ms: int = 0  # this node's clock when the last successful round started
    sweeps: int = 0
    sweep_failures: int = 0
    sweep_findings: int = 0

    def lag_s(self, now_ms: int) -> float:
        """How far behind the others' moves this node's index may be: seconds since the last good round."""
        return max(now_ms - self.last_round_ms, 0) / 1000


@dataclass
class CodeFollower:
    """Applies other gateways' moves to this node's status index; one per gateway node."""

    index: StatusIndex
    gateway_id: str
    watermark_ms: int  # newest inserted_at read so far (start: before the index was loaded)
    clock: Callable[[], int] = _now_ms
    stats: FollowStats = field(default_factory=FollowStats)
    # Move ids applied per round, with that round's newest insert: kept while they may be read again.
    _applied: list[tuple[int, npt.NDArray[np.uint64]]] = field(default_factory=list)
    # Codes set from another gateway's move, with that round's newest insert (see apply).
    _taken: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.stats.last_round_ms = self.clock()

    async def follow_once(self, storage: Storage) -> int:
        """One round: read what the others moved since the watermark and apply it; moves applied."""
        started = self.clock()
        since = self.watermark_ms - OVERLAP_MS
        moves = await storage.run(lambda c: latest_moves(c, storage.database, self.gateway_id, since))
        applied = await self.apply(moves)
        self.stats.rounds += 1
        self.stats.last_round_ms = started
        return applied

    async def apply(self, moves: LatestMoves) -> int:
        """Set each code to its latest move, in batches (the event loop is never held long); moves applied.

        A move applied once is not applied again when the overlap reads it again: this node may have moved
        the code since. This node's own latest move is applied only to a code set from another node's move
        before (that move was older, and arrived while this node's was not stored yet).
        """
        tag = max(moves.newest_ms, self.watermark_ms)
        done: list[int] = []
        for batch in moves.batches(self._wanted(moves), APPLY_BATCH):
            slots = self.index.locate(cis for cis, *_ in batch)  # no await before they are used
            for cis, sold, seller_tin, store_id, mine, move_id in batch:
                if mine and cis not in self._taken:
                    continue  # this node's own move: its index has it, or a newer one
                if sold:
                    self.index.record_sale(cis, seller_tin, store_id, slots[cis])
                else:
                    self.index.record_return(cis, slots[cis])
                if not mine:
                    self._taken[cis] = tag
                done.append(move_id)
            await asyncio.sleep(0)
        self._remember(np.array(done, np.uint64), tag)
        self.watermark_ms = tag
        self.stats.moves_applied += len(done)
        return len(done)

    def _wanted(self, moves: LatestMoves) -> npt.NDArray[np.bool_]:
        if not self._applied:
            return np.ones(len(moves), bool)
        return ~np.isin(moves.move_id, np.concatenate([ids for _, ids in self._applied]))

    def _remember(self, ids: npt.NDArray[np.uint64], tag: int) -> None:
        # A row inserted at or before `tag` is read again only while tag >= watermark - OVERLAP_MS.
        if len(ids):
            self._applied.append((tag, ids))
        horizon = tag - OVERLAP_MS
        self._applied = [(t, ids) for t, ids in self._applied if t >= horizon]
        if any(t < horizon for t in self._taken.values()):
            self._taken = {cis: t for cis, t in self._taken.items() if t >= horizon}


@dataclass
class DoubleSaleSweep:
    """Finds sales of one code on two gateways that neither flagged, and flags them (one node sweeps)."""

    gateway_id: str
    watermark_ms: int  # sales inserted before this have been swept
    stats: FollowStats
    clock: Callable[[], int] = _now_ms

    async def sweep_once(self, storage: Storage) -> int | None:
        """One sweep if this node is the sweeping one; findings written, None when another node sweeps."""
        now = self.clock()
        sweeper = await storage.run(lambda c: sweeping_gateway(c, storage.database, SWEEPER_WINDOW_S))
        # The smallest id among the gateways that stored code rows lately sweeps; when none did, every node
        # does (they find the same rows: one dedup token).
        if sweeper and sweeper != self.gateway_id:
            return None
        since = max(self.watermark_ms, now - SWEEP_LOOKBACK_MS) - OVERLAP_MS
        until = now - SETTLE_MS
        found = await storage.run(
            lambda c: sweep_double_sales(c, storage.database, since, until, now, SWEEP_HISTORY_MS))
        self.watermark_ms = max(self.watermark_ms, until)
        self.stats.sweeps += 1
        self.stats.sweep_findings += found
        return found


async def follow_forever(follower: CodeFollower, sweep: DoubleSaleSweep, storage: Storage,
                         interval_s: float, sweep_interval_s: float) -> None:
    """Follow every interval_s and sweep every sweep_interval_s until cancelled; failures are retried."""
    next_sweep = time.monotonic() + sweep_interval_s
    while True:
        await asyncio.sleep(interval_s)
        try:
            await follower.follow_once(storage)
        except Exception as exc:  # ClickHouse away: the index keeps what it knows; the lag metric grows
            follower.stats.failures += 1
            log.warning("following other gateways' code moves failed: %s", type(exc).__name__)
        if time.monotonic() < next_sweep:
            continue
        next_sweep = time.monotonic() + sweep_interval_s
        try:
            await sweep.sweep_once(storage)
        except Exception as exc:
            sweep.stats.sweep_failures += 1
            log.warning("the double-sale sweep failed: %s", type(exc).__name__)

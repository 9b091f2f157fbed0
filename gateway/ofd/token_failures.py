"""How many wrong tokens one source may send for one register: the budget that makes guessing a register's
32-bit TOKEN slow, without a way to lock the register out from elsewhere.

The per-address rate limit alone lets an address try ~200 tokens a second against one register: 2^32 in
about two days from ninety addresses. So the front door also counts, per (register ID, source), the
answers INVALID_TOKEN (2): a bucket of `burst` failures, refilled at `per_min`. A source that has used it
up gets 254 (busy, retry later) for that ID without its token being looked at, so a right guess is
answered like a wrong one. Nothing else changes: another source (the register's own address), or the same
source for another register, is judged as before; a source that only ever sends the right token is never
counted.

Failures counted past the budget (requests already in flight when it ran out) are owed: the bucket goes
below zero and refills from there, so however many arrive at once the long-run rate stays `per_min`.

A source is an IPv4 address, or an IPv6 /64 (one subscriber's network: otherwise each of its 2^64
addresses would have a budget of its own). Memory is bounded: past MAX_PAIRS, the pair failed longest ago
goes first.
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

MAX_PAIRS = 65_536  # (register ID, source) pairs remembered: ~25 MB at most


def source_of(remote: str) -> str:
    """The source a budget is kept for: the IPv4 address (also when IPv4-mapped), or the IPv6 /64."""
    try:
        address = ipaddress.ip_address(remote.split("%", 1)[0])
    except ValueError:
        return remote  # not an IP address (a Unix socket, a test transport): as it is
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


@dataclass(slots=True)
class _Budget:
    left: float  # failures still allowed; below 0: owed (counted past the budget)
    stamp: float  # clock time `left` was last brought up to date


class TokenFailures:
    """Wrong-token budgets per (register ID, source); burst 0 turns them off."""

    def __init__(self, burst: int, per_min: float, clock: Callable[[], float] = time.monotonic,
                 max_pairs: int = MAX_PAIRS) -> None:
        self.burst = burst
        self.per_s = per_min / 60.0
        self._clock = clock
        self._max_pairs = max_pairs
        self._pairs: OrderedDict[tuple[int, str], _Budget] = OrderedDict()

    def exhausted(self, device_id: int, source: str) -> bool:
        """True if source has no wrong token left for this register: answer 254 without judging it."""
        budget = self._pairs.get((device_id, source))
        return budget is not None and self._refilled(budget) < 1.0

    def failed(self, device_id: int, source: str) -> None:
        """Count one wrong token (answered INVALID_TOKEN) from source for this register."""
        if self.burst <= 0:
            return
        key = (device_id, source)
        budget = self._pairs.get(key)
        if budget is None:
            while len(self._pairs) >= self._max_pairs:
                self._pairs.popitem(last=False)
            budget = self._pairs[key] = _Budget(float(self.burst), self._clock())
        else:
            self._pairs.move_to_end(key)
        budget.left = self._refilled(budget) - 1.0

    def _refilled(self, budget: _Budget) -> float:
        now = self._clock()
        budget.left = min(float(self.burst), budget.left + (now - budget.stamp) * self.per_s)
        budget.stamp = now
        return budget.left

    def __len__(self) -> int:
        """How many (register ID, source) pairs have a budget."""
        return len(self._pairs)

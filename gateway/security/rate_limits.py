"""Token-bucket rate limits in memory: per device, per bearer token, per remote address."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway import errors
from gateway.errors import GatewayError

MAX_KEYS = 100_000  # a flood of fresh keys (addresses, device ids) cannot grow memory without bound


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class RateLimiter:
    """Buckets of `burst` tokens refilled at `per_s` a second, one per key."""

    per_s: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def take(self, key: str, cost: float = 1.0) -> float:
        """Take cost tokens from key's bucket; 0.0 if allowed, else the seconds to wait."""
        if self.per_s <= 0:
            return 0.0
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_KEYS:
                self._prune(now)
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.stamp) * self.per_s)
        bucket.stamp = now
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return 0.0
        return (cost - bucket.tokens) / self.per_s

    def check(self, key: str, what: str) -> None:
        """Raise rate_limited with Retry-After (whole seconds, at least 1) if key is over its rate."""
        wait = self.take(key)
        if wait > 0:
            raise GatewayError(
                errors.RATE_LIMITED,
                f"too many requests for this {what}",
                retry_after_s=max(1, math.ceil(wait)),
            )

    def __len__(self) -> int:
        """How many keys hold a bucket."""
        return len(self._buckets)

    def _prune(self, now: float) -> None:
        # Buckets full again are indistinguishable from new ones: drop them.
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.stamp) * self.per_s >= self.burst]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= MAX_KEYS:
            self._buckets.clear()

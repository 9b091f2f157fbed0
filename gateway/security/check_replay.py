"""Pre-sale code checks are answered once: each signed check carries a fresh nonce and its time, and a
check seen before (or too far from the gateway's clock to be remembered) is refused.

A check is remembered until its time is more than the window behind the gateway's clock, after which it
is refused for its age anyway: memory is bounded by the checks of one window (and the per-device rate).
The nonces survive a restart through the journal, which holds every answered check until it is shipped
(JournalRecord.code_check.nonce) and is replayed at start.
"""

from __future__ import annotations

import heapq

from gateway import errors
from gateway.errors import GatewayError

MIN_NONCE_BYTES = 8
MAX_NONCE_BYTES = 64


class CheckNonces:
    """The (device, nonce) of every check answered within the window of the gateway's clock."""

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self._expires: dict[tuple[str, bytes], int] = {}
        self._queue: list[tuple[int, str, bytes]] = []  # (forget at, device, nonce), soonest first

    def admit(self, device_id: str, nonce: bytes, time_ms: int, now_ms: int) -> None:
        """Take a check signed at time_ms (the register's clock); raises GatewayError if it may not be
        answered: no usable nonce, too far from now, or answered before."""
        if not MIN_NONCE_BYTES <= len(nonce) <= MAX_NONCE_BYTES:
            raise GatewayError(
                errors.MALFORMED_REQUEST,
                f"a check needs a fresh random nonce of {MIN_NONCE_BYTES} to {MAX_NONCE_BYTES} bytes",
            )
        if abs(time_ms - now_ms) > self.window_ms:
            raise GatewayError(
                errors.CHECK_EXPIRED,
                f"the check's time is {abs(time_ms - now_ms) // 1000} s from the gateway's clock, more than "
                f"{self.window_ms // 1000} s: set the register's clock and sign a new check",
            )
        self._forget_before(now_ms)
        key = (device_id, nonce)
        if key in self._expires:
            raise GatewayError(errors.CHECK_REPLAYED)
        self.remember(device_id, nonce, time_ms)

    def remember(self, device_id: str, nonce: bytes, time_ms: int) -> None:
        """Note a check as answered (admit does; the journal replay at start too)."""
        forget_at = time_ms + self.window_ms
        key = (device_id, nonce)
        if self._expires.get(key, -1) < forget_at:
            self._expires[key] = forget_at
            heapq.heappush(self._queue, (forget_at, device_id, nonce))

    def release(self, device_id: str, nonce: bytes) -> None:
        """Forget a check admitted but not answered (the journal refused it): its resend may be answered."""
        self._expires.pop((device_id, nonce), None)

    def _forget_before(self, now_ms: int) -> None:
        queue = self._queue
        while queue and queue[0][0] < now_ms:
            forget_at, device_id, nonce = heapq.heappop(queue)
            if self._expires.get((device_id, nonce)) == forget_at:
                del self._expires[(device_id, nonce)]

    def __len__(self) -> int:
        return len(self._expires)

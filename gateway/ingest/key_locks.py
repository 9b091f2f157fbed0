"""Per-key locks (devices, marking codes) so two requests on one key never interleave."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable

# A key's entry: absent while nobody holds it; None while held with nobody waiting; else its waiters, first
# come first served. A free key is taken without an await or an asyncio.Lock: a backlog request holds over a
# thousand marking codes' locks, and an asyncio.Lock each (made, acquired, released) was ~9 % of its time.
_Waiters = deque["asyncio.Future[None]"] | None


class KeyLocks:
    """Per-key locks (devices, marking codes) so two requests on one key never interleave; an entry lives
    while in use."""

    def __init__(self) -> None:
        self._entries: dict[str, _Waiters] = {}

    def hold(self, keys: Iterable[str]) -> HeldLocks:
        """Hold the locks of all these keys; taken in sorted order, so two batches cannot deadlock."""
        return HeldLocks(self._entries, sorted(set(keys)))

    def __len__(self) -> int:
        return len(self._entries)


class HeldLocks:
    """KeyLocks.hold as a plain async context manager (an @asynccontextmanager generator costs more)."""

    __slots__ = ("_entries", "_held", "_ids")

    def __init__(self, entries: dict[str, _Waiters], ids: list[str]) -> None:
        self._entries = entries
        self._ids = ids
        self._held: list[str] = []

    async def __aenter__(self) -> None:
        entries, held = self._entries, self._held
        for key in self._ids:
            if key not in entries:
                entries[key] = None
                held.append(key)
                continue
            waiters = entries[key]
            if waiters is None:
                waiters = entries[key] = deque()
            turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            waiters.append(turn)
            try:
                await turn
            except BaseException:
                if turn.done() and not turn.cancelled():
                    held.append(key)  # handed over as this task gave up: passed on by _release
                elif turn in waiters:
                    waiters.remove(turn)
                self._release()
                raise
            held.append(key)

    async def __aexit__(self, *exc_info: object) -> None:
        self._release()

    def _release(self) -> None:
        entries = self._entries
        for key in reversed(self._held):
            waiters = entries[key]
            while waiters:
                turn = waiters.popleft()
                if not turn.done():  # a waiter that gave up is skipped
                    turn.set_result(None)
                    break
            else:
                del entries[key]
        self._held.clear()

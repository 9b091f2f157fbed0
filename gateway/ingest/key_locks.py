"""Per-key locks (devices, marking codes) so two requests on one key never interleave."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Lock:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class KeyLocks:
    """Per-key locks (devices, marking codes) so two requests on one key never interleave; an entry lives
    while in use."""

    def __init__(self) -> None:
        self._entries: dict[str, _Lock] = {}

    def hold(self, keys: Iterable[str]) -> HeldLocks:
        """Hold the locks of all these keys; taken in sorted order, so two batches cannot deadlock."""
        return HeldLocks(self._entries, sorted(set(keys)))

    def __len__(self) -> int:
        return len(self._entries)


class HeldLocks:
    """KeyLocks.hold as a plain async context manager (an @asynccontextmanager generator costs more)."""

    __slots__ = ("_acquired", "_entries", "_ids")

    def __init__(self, entries: dict[str, _Lock], ids: list[str]) -> None:
        self._entries = entries
        self._ids = ids
        self._acquired: list[asyncio.Lock] = []

    async def __aenter__(self) -> None:
        for device_id in self._ids:
            self._entries.setdefault(device_id, _Lock()).users += 1
        try:
            for device_id in self._ids:
                lock = self._entries[device_id].lock
                await lock.acquire()
                self._acquired.append(lock)
        except BaseException:
            self._release()
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        self._release()

    def _release(self) -> None:
        for lock in reversed(self._acquired):
            lock.release()
        for device_id in self._ids:
            entry = self._entries[device_id]
            entry.users -= 1
            if entry.users == 0:
                del self._entries[device_id]

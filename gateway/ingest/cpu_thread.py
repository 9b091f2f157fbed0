"""A worker thread for CPU work kept off the event loop (batch signature checks): one wake-up a group.

asyncio.to_thread costs 40-100 µs of CPU a call (a context copy, a concurrent future chained to an
asyncio one, a wake-up of the loop per call), close to the ECDSA verify it hands off. This thread takes
every call queued since its last pass, runs them in arrival order and settles them with one
call_soon_threadsafe per event loop, so under load many requests share one wake-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(slots=True)
class _Call:
    work: Callable[[], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    result: Any = None
    error: BaseException | None = None


def _settle(calls: list[_Call]) -> None:
    """On the waiting loop: resolve each call's future (unless its caller gave up)."""
    for call in calls:
        if call.future.done():
            continue
        if call.error is None:
            call.future.set_result(call.result)
        else:
            call.future.set_exception(call.error)


class CpuThread:
    """A daemon thread, started on first use, that runs queued calls and wakes each loop once a group."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._start = threading.Lock()
        # SimpleQueue: put() is one C call that wakes the thread (a Condition's notify is Python code).
        self._queue: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    async def run(self, work: Callable[[], T]) -> T:
        """work() on the thread; its result or its exception here."""
        if self._thread is None:
            with self._start:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                    self._thread.start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Call(work, loop, future))
        return await future

    def _loop(self) -> None:
        while True:
            group = [self._queue.get()]
            with contextlib.suppress(queue.Empty):
                while True:
                    group.append(self._queue.get_nowait())
            for call in group:
                try:
                    call.result = call.work()
                except BaseException as exc:  # handed to the caller, as to_thread would
                    call.error = exc
            by_loop: dict[asyncio.AbstractEventLoop, list[_Call]] = {}
            for call in group:
                by_loop.setdefault(call.loop, []).append(call)
            for loop, calls in by_loop.items():
                # A closed loop means nobody waits for these answers any more.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_settle, calls)


# One per process, shared by ingest and the pre-sale checks (tests build many pipelines): signature checks
# off the event loop.
VERIFIER = CpuThread("tg-verify")

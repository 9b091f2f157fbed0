"""The CPU thread: results and exceptions come back to the caller, concurrent calls are grouped."""

from __future__ import annotations

import asyncio
import threading

import pytest

from gateway.ingest.cpu_thread import CpuThread


async def test_result_comes_back_from_the_thread() -> None:
    worker = CpuThread("test-cpu")
    assert await worker.run(lambda: threading.current_thread().name) == "test-cpu"


async def test_exception_is_raised_to_the_caller() -> None:
    worker = CpuThread("test-cpu")

    def fail() -> None:
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        await worker.run(fail)
    assert await worker.run(lambda: 2) == 2  # the thread lives on


async def test_concurrent_calls_each_get_their_own_answer_in_order() -> None:
    worker = CpuThread("test-cpu")
    ran: list[int] = []

    def work(n: int) -> int:
        ran.append(n)
        return n * n

    results = await asyncio.gather(*(worker.run(lambda n=n: work(n)) for n in range(50)))
    assert results == [n * n for n in range(50)]
    assert ran == list(range(50))


async def test_a_caller_that_gave_up_does_not_disturb_the_others() -> None:
    worker = CpuThread("test-cpu")
    gate = threading.Event()
    slow = asyncio.ensure_future(worker.run(lambda: gate.wait(5)))
    other = asyncio.ensure_future(worker.run(lambda: "other"))
    await asyncio.sleep(0.01)
    slow.cancel()
    gate.set()
    assert await other == "other"
    with pytest.raises(asyncio.CancelledError):
        await slow

"""KeyLocks: one request per device at a time, entries freed after use, also when a waiter gives up."""

from __future__ import annotations

import asyncio

import pytest

from gateway.ingest.key_locks import KeyLocks


async def test_second_holder_waits_and_entries_are_freed() -> None:
    locks = KeyLocks()
    order: list[str] = []

    async def hold(name: str, devices: list[str]) -> None:
        async with locks.hold(devices):
            order.append(f"{name} in")
            await asyncio.sleep(0.01)
            order.append(f"{name} out")

    await asyncio.gather(hold("a", ["d2", "d1"]), hold("b", ["d1"]))
    assert order == ["a in", "a out", "b in", "b out"]
    assert len(locks) == 0


async def test_a_cancelled_waiter_leaves_nothing_behind() -> None:
    locks = KeyLocks()
    async with locks.hold(["d1"]):
        waiter = asyncio.ensure_future(locks.hold(["d0", "d1"]).__aenter__())
        await asyncio.sleep(0)
        assert len(locks) == 2
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    assert len(locks) == 0


async def test_an_error_inside_releases_the_locks() -> None:
    locks = KeyLocks()
    with pytest.raises(RuntimeError):
        async with locks.hold(["d1"]):
            raise RuntimeError("boom")
    assert len(locks) == 0
    async with locks.hold(["d1"]):
        pass


async def test_a_waiter_cancelled_as_its_turn_comes_passes_the_lock_on() -> None:
    locks = KeyLocks()
    entered: list[str] = []

    async def hold(name: str) -> None:
        async with locks.hold(["d1"]):
            entered.append(name)

    first = locks.hold(["d1"])
    await first.__aenter__()
    second, third = asyncio.ensure_future(hold("second")), asyncio.ensure_future(hold("third"))
    await asyncio.sleep(0)  # both wait, in that order
    await first.__aexit__(None, None, None)  # hands d1 to the second …
    second.cancel()  # … which gives up before it could run
    await asyncio.gather(second, third, return_exceptions=True)
    assert second.cancelled() and entered == ["third"]
    assert len(locks) == 0

"""The write-ahead journal: durable group commit, crash recovery, back-pressure, replay."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from gateway import errors
from gateway.errors import GatewayError
from gateway.ingest import journal as journal_module
from gateway.ingest.journal import FRAME_HEADER, Journal, JournalCorrupted

MB = 1024 * 1024


def records(n: int, prefix: str = "r") -> list[bytes]:
    """n distinct records of varied length."""
    return [f"{prefix}{i}:".encode() + b"x" * (i % 37) for i in range(n)]


def open_journal(path: Path, *, segment_bytes: int = MB, budget_bytes: int = 64 * MB) -> Journal:
    return Journal.open(path, segment_bytes=segment_bytes, budget_bytes=budget_bytes)


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    opened = open_journal(tmp_path / "journal")
    yield opened
    await opened.close()


def segment_files(path: Path) -> list[Path]:
    return sorted(path.glob("*.seg"))


async def test_replay_returns_exactly_what_was_appended_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    first = open_journal(path, segment_bytes=200)
    written = records(40)
    for i in range(0, 40, 7):
        await first.append(written[i : i + 7])
    await first.close()
    assert len(segment_files(path)) > 1, "small segments must rotate"
    second = open_journal(path, segment_bytes=200)
    assert list(second.replay()) == written
    await second.append([b"after reopen"])
    assert list(second.replay()) == [*written, b"after reopen"]
    await second.close()


async def test_concurrent_appends_share_one_fsync(journal: Journal, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = threading.Event()
    fsyncs: list[int] = []
    real_fsync = os.fsync

    def slow_first_fsync(fd: int) -> None:
        fsyncs.append(fd)
        if len(fsyncs) == 1:
            gate.wait(5)  # the disk is busy with the first group while 50 requests arrive
        real_fsync(fd)

    monkeypatch.setattr(journal_module.os, "fsync", slow_first_fsync)
    first = asyncio.create_task(journal.append([b"first"]))
    while not fsyncs:
        await asyncio.sleep(0.001)
    waiting = [asyncio.create_task(journal.append([f"req{i}".encode()])) for i in range(50)]
    while journal.stats()["pending_appends"] < 50:
        await asyncio.sleep(0.001)
    assert not any(task.done() for task in waiting), "nothing is acknowledged before its fsync"
    gate.set()
    await asyncio.gather(first, *waiting)
    assert len(fsyncs) == 2, "the 50 waiting appends were committed by a single fsync"
    assert journal.stats()["groups"] == 2
    assert sorted(journal.replay()) == sorted([b"first", *(f"req{i}".encode() for i in range(50))])


async def test_torn_tail_is_truncated_at_open(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    journal = open_journal(path)
    await journal.append(records(5))
    await journal.close()
    segment = segment_files(path)[-1]
    whole = segment.stat().st_size
    with open(segment, "ab") as f:  # a crash in the middle of writing the next frame
        f.write(FRAME_HEADER.pack(100, 12345) + b"only part of the payl")
    reopened = open_journal(path)
    assert list(reopened.replay()) == records(5)
    assert segment.stat().st_size == whole
    await reopened.append([b"next"])
    assert list(reopened.replay()) == [*records(5), b"next"]
    await reopened.close()


async def test_flipped_bit_in_last_record_drops_only_it(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    journal = open_journal(path)
    await journal.append(records(5))
    await journal.close()
    segment = segment_files(path)[-1]
    data = bytearray(segment.read_bytes())
    data[-2] ^= 0x04
    segment.write_bytes(bytes(data))
    reopened = open_journal(path)
    assert list(reopened.replay()) == records(4)
    await reopened.close()


async def test_corruption_in_the_middle_refuses_to_open(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    journal = open_journal(path)
    await journal.append(records(10))
    await journal.close()
    segment = segment_files(path)[-1]
    data = bytearray(segment.read_bytes())
    data[FRAME_HEADER.size + 1] ^= 0x01  # inside the first record's payload
    segment.write_bytes(bytes(data))
    with pytest.raises(JournalCorrupted, match="middle"):
        open_journal(path)
    assert segment.stat().st_size == len(data), "nothing is truncated when the damage is not at the tail"


async def test_over_budget_is_backpressure_and_shipping_frees_it(journal: Journal) -> None:
    journal.budget_bytes = 1000
    await journal.append([b"a" * 600])
    with pytest.raises(GatewayError) as caught:
        await journal.append([b"b" * 300, b"c" * 300])
    assert caught.value.error is errors.BACKPRESSURE
    assert caught.value.retry_after_s and caught.value.retry_after_s > 0
    assert list(journal.replay()) == [b"a" * 600], "a refused request leaves nothing behind"
    journal.mark_shipped(journal.end_position)
    await journal.append([b"b" * 300, b"c" * 300])
    assert journal.unshipped_bytes() == 600 + 2 * FRAME_HEADER.size


async def test_failed_write_is_backpressure_and_leaves_no_half_record(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    await journal.append([b"before"])
    real_write = os.write

    def disk_full(fd: int, data: bytes | memoryview) -> int:
        real_write(fd, bytes(data)[:5])  # part of the group reaches the file, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(journal_module.os, "write", disk_full)
    with pytest.raises(GatewayError) as caught:
        await journal.append([b"lost-1", b"lost-2"])
    assert caught.value.error is errors.BACKPRESSURE
    monkeypatch.setattr(journal_module.os, "write", real_write)
    await journal.append([b"after"])
    assert list(journal.replay()) == [b"before", b"after"]


async def test_records_handed_off_are_written_in_order_and_a_failed_write_is_logged_by_label(
    journal: Journal, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    journal.append_soon([b"check-1"], "answered check one")
    await journal.append([b"receipt-after-it"])  # durable, so the hand-off before it is too
    assert list(journal.replay()) == [b"check-1", b"receipt-after-it"]

    def disk_full(fd: int, data: bytes | memoryview) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(journal_module.os, "write", disk_full)
    journal.append_soon([b"check-2"], "answered check two")
    for _ in range(200):
        if "answered check two" in caplog.text:
            break
        await asyncio.sleep(0.01)
    assert "journal: answered check two was not recorded: backpressure" in caplog.text
    assert "check one" not in caplog.text


async def test_checks_handed_off_together_share_one_fsync_and_land_on_their_own(journal: Journal) -> None:
    # A pre-sale check a record: at 2,000 a second an fsync each cost a core's fifth on this machine's disk.
    fsyncs = journal.fsyncs
    started = time.monotonic()
    for n in range(20):  # as checks come, one every half millisecond (longer on a loaded machine)
        journal.append_soon([b"check-%d" % n], f"answered check {n}")
        await asyncio.sleep(0.0005)
    handed_off_for = time.monotonic() - started
    for _ in range(200):  # nobody awaits them: they are written once their window has passed
        if journal.record_count() == 20:
            break
        await asyncio.sleep(0.01)
    assert list(journal.replay()) == [b"check-%d" % n for n in range(20)]
    # At most one group commit a window while they came, and one for the last window's: ~10 ms of checks
    # on a quiet machine, two or three windows, where an fsync each would be twenty.
    assert journal.fsyncs - fsyncs <= 2 + int(handed_off_for / journal_module.SOON_WINDOW_S)


async def test_an_awaited_append_takes_waiting_hand_offs_along_at_once(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal_module, "SOON_WINDOW_S", 30.0)
    journal.append_soon([b"check"], "answered check")
    await asyncio.wait_for(journal.append([b"receipt"]), 5)  # not after the (now long) window
    assert list(journal.replay()) == [b"check", b"receipt"]


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[None]:
    """Make directory read-only for real: a read-only bind mount over it (root), else permissions."""
    bind = ["mount", "--bind", str(directory), str(directory)]
    bound = subprocess.run(bind, capture_output=True, check=False)
    if bound.returncode == 0:
        try:
            subprocess.run(["mount", "-o", "remount,bind,ro", str(directory)], check=True)
            yield
        finally:
            subprocess.run(["umount", str(directory)], check=True)
        return
    if os.geteuid() == 0:
        pytest.skip("root here can neither mount nor be stopped by permissions")
    os.chmod(directory, 0o500)
    try:
        yield
    finally:
        os.chmod(directory, 0o700)


async def test_read_only_directory_is_backpressure(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    journal = open_journal(path, segment_bytes=10)  # every group starts a new segment file
    await journal.append([b"first"])
    with read_only(path):
        with pytest.raises(GatewayError) as caught:
            await journal.append([b"second"])
        assert caught.value.error is errors.BACKPRESSURE
    await journal.append([b"third"])
    assert list(journal.replay()) == [b"first", b"third"]
    await journal.close()


@pytest.fixture
def small_mount(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs of our own (needs root with CAP_SYS_ADMIN), so disk full and read-only are real."""
    mount_point = tmp_path / "mnt"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)



async def test_full_disk_is_backpressure_and_recovers(small_mount: Path) -> None:
    path = small_mount / "journal"
    journal = open_journal(path)
    await journal.append([b"a" * 100_000])
    with pytest.raises(GatewayError) as caught:
        await journal.append([b"b" * 100_000, b"c" * 100_000])  # does not fit in 256 KiB
    assert caught.value.error is errors.BACKPRESSURE
    await journal.append([b"d" * 1000])
    await journal.close()
    reopened = open_journal(path)
    assert list(reopened.replay()) == [b"a" * 100_000, b"d" * 1000]
    await reopened.close()


async def test_shipped_segments_are_deleted_and_reads_resume(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    journal = open_journal(path, segment_bytes=50)  # each append starts a segment
    for chunk in range(6):
        await journal.append(records(5, prefix=f"c{chunk}-"))
    assert len(segment_files(path)) == 6
    got, middle = journal.read(journal.oldest_position, max_records=12)
    assert got == records(5, "c0-") + records(5, "c1-") + records(2, "c2-")
    deleted = journal.mark_shipped(middle)
    assert deleted == 10 and len(segment_files(path)) == 4
    rest, end = journal.read(middle, max_records=1000)
    assert rest[:3] == records(5, "c2-")[2:] and end == journal.end_position
    assert journal.record_count() == 20
    await journal.close()


async def test_replay_of_an_empty_journal(journal: Journal) -> None:
    assert list(journal.replay()) == []
    read: Callable[..., tuple[list[bytes], int]] = journal.read
    assert read(0, max_records=10) == ([], 0)


async def test_a_rotation_asked_for_lets_shipped_records_leave_the_disk(journal: Journal) -> None:
    # pii forget asks for one: the sealed copies it counted go with their segment once shipped.
    path = journal.directory
    await journal.append(records(3))
    journal.request_rotation()
    await journal.append(records(2, prefix="after-"))
    assert len(segment_files(path)) == 2
    shipped, _ = journal.read(journal.oldest_position, max_records=3)
    assert shipped == records(3)
    assert journal.mark_shipped(int(segment_files(path)[1].stem)) == 3
    assert len(segment_files(path)) == 1 and list(journal.replay()) == records(2, prefix="after-")

"""Write-ahead journal: CRC-framed records in segment files, fsynced by group commit before an ack."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
import threading
import uuid
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from gateway import errors

log = logging.getLogger(__name__)

# Frame: u32 payload length | u32 crc32(payload) | payload, little-endian.
FRAME_HEADER = struct.Struct("<II")
SEGMENT_SUFFIX = ".seg"
ID_FILE = "journal.id"
# Segment file names are the global byte position of their first frame, so a position is one integer.
_NAME_DIGITS = 20
MAX_RECORD_BYTES = 64 * 1024 * 1024
# How long a client should wait before resending when the journal is full or the disk failed.
RETRY_AFTER_FULL_S = 2
RETRY_AFTER_FAILED_S = 5
# How long records nobody waits for (append_soon: pre-sale checks) may sit in the queue before their group
# is written, so that at thousands a second they share a write and an fsync instead of one each.
SOON_WINDOW_S = 0.005


class JournalCorrupted(Exception):
    """A frame in the middle of the journal does not check out: refuse to guess, an operator must look."""


@dataclass
class _Pending:
    """One append call waiting for the writer thread."""

    frames: bytes
    count: int
    loop: asyncio.AbstractEventLoop | None  # None: nobody waits (append_soon); a failure is logged
    future: asyncio.Future[None] | None
    label: str = ""  # append_soon: what the records are, for that log line


def _settle(outcomes: list[tuple[_Pending, BaseException | None]]) -> None:
    """On the waiting loop: resolve each append's future (unless its caller gave up)."""
    for pending, error in outcomes:
        assert pending.future is not None
        if pending.future.done():
            continue
        if error is None:
            pending.future.set_result(None)
        else:
            pending.future.set_exception(error)


def _segment_name(start: int) -> str:
    return f"{start:0{_NAME_DIGITS}d}{SEGMENT_SUFFIX}"


def frames(records: Sequence[bytes]) -> bytes:
    """The on-disk frames of records, back to back (one list, no call per record: a request holds tens)."""
    pack, crc32 = FRAME_HEADER.pack, zlib.crc32
    return b"".join([pack(len(r), crc32(r)) + r for r in records])


def write_file_durably(path: Path, text: str, *, sync_directory: bool = True) -> None:
    """Replace path with text atomically and durably (tmp + fsync + rename; then the directory, unless the
    caller syncs it once after several files). Private (0600), like the journal."""
    tmp = path.with_name(path.name + ".tmp")
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    if sync_directory:
        fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make a directory's entries (files created, renamed or removed in it) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _frame_at(data: bytes, pos: int) -> int | None:
    """Length of the good frame starting at pos, or None."""
    if pos + FRAME_HEADER.size > len(data):
        return None
    length: int
    crc: int
    length, crc = FRAME_HEADER.unpack_from(data, pos)
    body_end = pos + FRAME_HEADER.size + length
    if length == 0 or length > MAX_RECORD_BYTES or body_end > len(data):
        return None
    if zlib.crc32(data[pos + FRAME_HEADER.size : body_end]) != crc:
        return None
    return length


def _scan(data: bytes, *, last_segment: bool, name: str) -> tuple[int, int]:
    """(valid prefix length, frames in it) of a segment; JournalCorrupted if damaged before the tail."""
    pos = 0
    count = 0
    while pos < len(data):
        length = _frame_at(data, pos)
        if length is None:
            break
        pos += FRAME_HEADER.size + length
        count += 1
    if pos == len(data):
        return pos, count
    # A bad frame is a torn tail only if nothing good follows it: a crash mid-write leaves a partial last
    # frame (or zeros). A good frame after a bad one means acknowledged records sit behind damage.
    damaged_tail = last_segment and not any(
        _frame_at(data, later) is not None for later in range(pos + 1, len(data) - FRAME_HEADER.size)
    )
    if damaged_tail:
        return pos, count
    raise JournalCorrupted(
        f"journal segment {name}: bad frame at byte {pos} with good records after it; the journal is "
        "damaged in the middle, refusing to start (move the segment away to inspect it)"
    )


def _journal_id(directory: Path) -> str:
    """This journal's permanent id (made at creation): it keeps dedup tokens unique across nodes."""
    path = directory / ID_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    tmp = directory / (ID_FILE + ".tmp")
    with open(tmp, "w") as f:
        f.write(uuid.uuid4().hex)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(directory)
    return path.read_text().strip()


class Journal:
    """Append-only, crash-safe record log; one writer thread batches concurrent appends into one fsync."""

    def __init__(self, directory: Path, segment_bytes: int, budget_bytes: int) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.budget_bytes = budget_bytes
        self.journal_id = ""
        self._cond = threading.Condition()
        self._queue: list[_Pending] = []
        self._waited_for = 0  # appends in the queue that a caller awaits (an fsync to wait for)
        self._closing = False
        self._segments: list[int] = []  # start positions, ascending
        self._seg_records: dict[int, int] = {}  # records in each segment
        self._fd = -1
        self._end = 0  # durable end position (everything before it is fsynced)
        self._shipped = 0
        self._failed = False
        self._rotate_soon = False  # start a new segment at the next write (request_rotation)
        self.fsyncs = 0
        self.groups = 0
        self._thread = threading.Thread(target=self._write_loop, name="journal-writer", daemon=True)

    @classmethod
    def open(cls, directory: Path, *, segment_bytes: int, budget_bytes: int) -> Journal:
        """Open (creating) the journal, truncating a torn tail; raises JournalCorrupted on mid damage."""
        directory.mkdir(parents=True, exist_ok=True)
        journal = cls(directory, segment_bytes, budget_bytes)
        journal.journal_id = _journal_id(directory)
        journal._recover()
        journal._thread.start()
        return journal

    def _segment_path(self, start: int) -> Path:
        return self.directory / _segment_name(start)

    def _recover(self) -> None:
        starts = sorted(
            int(p.name[: -len(SEGMENT_SUFFIX)])
            for p in self.directory.iterdir()
            if p.name.endswith(SEGMENT_SUFFIX) and p.name[: -len(SEGMENT_SUFFIX)].isdigit()
        )
        for i, start in enumerate(starts):
            path = self._segment_path(start)
            data = path.read_bytes()
            last = i == len(starts) - 1
            valid, self._seg_records[start] = _scan(data, last_segment=last, name=path.name)
            if not last and start + len(data) != starts[i + 1]:
                raise JournalCorrupted(f"journal segment {path.name} does not end where the next begins")
            if valid < len(data):
                log.warning("journal: truncating torn tail of %s at byte %d (%d bytes dropped)",
                            path.name, valid, len(data) - valid)
                with open(path, "r+b") as f:
                    f.truncate(valid)
                    f.flush()
                    os.fsync(f.fileno())
        if not starts:
            starts = [0]
            self._create_segment(0)
            self._seg_records[0] = 0
        self._segments = starts
        last_path = self._segment_path(starts[-1])
        self._fd = os.open(last_path, os.O_WRONLY | os.O_APPEND)
        self._end = starts[-1] + os.fstat(self._fd).st_size
        self._shipped = starts[0]

    def _create_segment(self, start: int) -> None:
        fd = os.open(self._segment_path(start), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        fsync_dir(self.directory)

    # ── writing ──

    async def append(self, records: Sequence[bytes]) -> None:
        """Durably append records (fsynced when this returns); BACKPRESSURE if over budget or failing."""
        if records:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._enqueue(_Pending(frames(records), len(records), future.get_loop(), future))
            await future

    def append_soon(self, records: Sequence[bytes], label: str) -> None:
        """Hand records to the writer thread's next group commit and return at once, for records whose
        answer needs no durability (a pre-sale check changes nothing): they are lost only if the process
        dies before that group's write, within SOON_WINDOW_S and an fsync. Nobody waits for them, so their
        group wakes no event loop, and they wait up to SOON_WINDOW_S for company (an awaited append takes
        them along at once); a write that fails is logged, naming them by label. A journal already over
        its budget or closing raises BACKPRESSURE here."""
        self._enqueue(_Pending(frames(records), len(records), None, None, label))

    def _enqueue(self, pending: _Pending) -> None:
        with self._cond:
            if self._closing:
                raise errors.GatewayError(errors.BACKPRESSURE, "the journal is closing",
                                          retry_after_s=RETRY_AFTER_FAILED_S)
            if self._end - self._shipped + len(pending.frames) > self.budget_bytes:
                raise errors.GatewayError(
                    errors.BACKPRESSURE, "the journal is over its disk budget (storage is behind)",
                    retry_after_s=RETRY_AFTER_FULL_S)
            self._queue.append(pending)
            if pending.future is not None:
                self._waited_for += 1
                self._cond.notify()
            elif len(self._queue) == 1:  # later ones find the writer already counting down their window
                self._cond.notify()

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue and self._closing:
                    return
                if not self._waited_for and not self._closing:
                    # Only records nobody waits for: let the window fill (an awaited append or closing
                    # notifies and ends the wait at once).
                    self._cond.wait_for(lambda: self._waited_for or self._closing, SOON_WINDOW_S)
                group, self._queue, self._waited_for = self._queue, [], 0
            self._commit(group)

    def _commit(self, group: list[_Pending]) -> None:
        """Write every request of the group that fits the budget, fsync once, then resolve them all."""
        accepted: list[_Pending] = []
        refused: list[_Pending] = []
        unshipped = self._end - self._shipped
        for pending in group:
            if unshipped + len(pending.frames) > self.budget_bytes:
                refused.append(pending)
            else:
                accepted.append(pending)
                unshipped += len(pending.frames)
        failure: errors.GatewayError | None = None
        if accepted:
            failure = self._write_durably(
                b"".join(p.frames for p in accepted), sum(p.count for p in accepted))
        full = errors.GatewayError(
            errors.BACKPRESSURE, "the journal is over its disk budget (storage is behind)",
            retry_after_s=RETRY_AFTER_FULL_S)
        self._resolve_all([(p, full) for p in refused] + [(p, failure) for p in accepted])

    def _write_durably(self, data: bytes, count: int) -> errors.GatewayError | None:
        start = self._end
        try:
            if self._failed:
                self._reopen()
            # Asked for (request_rotation): a new segment, unless this one is still empty.
            asked, self._rotate_soon = self._rotate_soon and start > self._segments[-1], False
            if asked or start - self._segments[-1] >= self.segment_bytes:
                self._rotate(start)
            written = 0
            while written < len(data):
                written += os.write(self._fd, data[written:])
            os.fsync(self._fd)
            self.fsyncs += 1
        except OSError as exc:
            log.error("journal write failed: %s", exc)
            self._undo_partial_write(start)
            return errors.GatewayError(
                errors.BACKPRESSURE, "the gateway cannot write its journal now (disk full or read-only)",
                retry_after_s=RETRY_AFTER_FAILED_S)
        self.groups += 1
        with self._cond:
            self._end = start + len(data)
            self._seg_records[self._segments[-1]] += count
        return None

    def _undo_partial_write(self, start: int) -> None:
        # Bytes of a failed group must not stay ahead of later frames: that would be corruption mid-file.
        try:
            os.ftruncate(self._fd, start - self._segments[-1])
        except OSError as exc:
            log.error("journal: cannot truncate after a failed write (%s); will reopen", exc)
            self._failed = True

    def _reopen(self) -> None:
        os.close(self._fd)
        path = self._segment_path(self._segments[-1])
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        os.ftruncate(self._fd, self._end - self._segments[-1])
        self._failed = False

    def _rotate(self, start: int) -> None:
        os.fsync(self._fd)
        self._create_segment(start)
        fd = os.open(self._segment_path(start), os.O_WRONLY | os.O_APPEND)
        os.close(self._fd)
        self._fd = fd
        with self._cond:
            self._segments.append(start)
            self._seg_records[start] = 0

    @staticmethod
    def _resolve_all(outcomes: list[tuple[_Pending, BaseException | None]]) -> None:
        # One wake-up per event loop for the whole group, not one per request: under load a group holds
        # dozens of requests and each call_soon_threadsafe writes to the loop's self-pipe.
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Pending, BaseException | None]]] = {}
        for pending, error in outcomes:
            if pending.loop is not None:
                by_loop.setdefault(pending.loop, []).append((pending, error))
            elif error is not None:
                log.error("journal: %s was not recorded: %s", pending.label, error)
        for loop, settled in by_loop.items():
            # A closed loop means nobody waits for these answers any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, settled)

    def request_rotation(self) -> None:
        """Start a new segment at the next write, so the records before it leave the disk as soon as they
        are shipped (pii forget: the sealed copies of a person's receipts go with their segment)."""
        with self._cond:
            self._rotate_soon = True

    # ── reading ──

    @property
    def end_position(self) -> int:
        """Position just past the last durable record."""
        with self._cond:
            return self._end

    @property
    def shipped_position(self) -> int:
        """Position up to which storage has confirmed every record."""
        with self._cond:
            return self._shipped

    def unshipped_bytes(self) -> int:
        """Durable bytes not yet confirmed by storage (what the budget limits)."""
        with self._cond:
            return self._end - self._shipped

    def read(self, start: int, *, max_records: int, stop: int | None = None) -> tuple[list[bytes], int]:
        """Up to max_records durable records from position start (to stop at most), and the next position."""
        with self._cond:
            end = self._end if stop is None else min(stop, self._end)
            segments = list(self._segments)
        records: list[bytes] = []
        pos = start
        while pos < end and len(records) < max_records:
            seg = max((s for s in segments if s <= pos), default=None)
            if seg is None:
                raise JournalCorrupted(f"journal position {pos} is before the oldest segment")
            later = [s for s in segments if s > seg]
            seg_end = min(later[0] if later else end, end)
            if pos >= seg_end:
                break
            with open(self._segment_path(seg), "rb") as f:
                f.seek(pos - seg)
                data = f.read(seg_end - pos)
            offset = 0
            while offset < len(data) and len(records) < max_records:
                length, crc = FRAME_HEADER.unpack_from(data, offset)
                body = data[offset + FRAME_HEADER.size : offset + FRAME_HEADER.size + length]
                if len(body) != length or zlib.crc32(body) != crc:
                    raise JournalCorrupted(f"journal frame at position {pos + offset} does not check out")
                records.append(body)
                offset += FRAME_HEADER.size + length
            pos += offset
        return records, pos

    def replay(self) -> Iterator[bytes]:
        """Every record still on disk, in order (for rebuilding chain heads at start)."""
        pos = self._segments[0]
        while True:
            records, pos = self.read(pos, max_records=10_000)
            if not records:
                return
            yield from records

    def record_count(self) -> int:
        """Records in the segments still on disk."""
        with self._cond:
            return sum(self._seg_records.values())

    @property
    def oldest_position(self) -> int:
        """Start of the oldest segment still on disk."""
        with self._cond:
            return self._segments[0]

    def mark_shipped(self, position: int) -> int:
        """Storage confirmed everything before position: free budget, delete fully shipped segments.

        Returns how many records the deleted segments held.
        """
        with self._cond:
            self._shipped = max(self._shipped, min(position, self._end))
            done = [s for i, s in enumerate(self._segments[:-1]) if self._segments[i + 1] <= self._shipped]
            self._segments = self._segments[len(done) :]
            deleted = sum(self._seg_records.pop(s, 0) for s in done)
        for start in done:
            self._segment_path(start).unlink(missing_ok=True)
        if done:
            fsync_dir(self.directory)
        return deleted

    def stats(self) -> dict[str, int]:
        """Counters for /readyz and tests."""
        with self._cond:
            return {
                "end_position": self._end,
                "shipped_position": self._shipped,
                "unshipped_bytes": self._end - self._shipped,
                "segments": len(self._segments),
                "records_on_disk": sum(self._seg_records.values()),
                "pending_appends": len(self._queue),
                "fsyncs": self.fsyncs,
                "groups": self.groups,
            }

    async def close(self) -> None:
        """Finish pending appends and stop the writer thread."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        await asyncio.to_thread(self._thread.join)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

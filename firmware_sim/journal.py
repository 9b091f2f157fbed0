"""The register's own append-only journal of signed envelopes, and its upload queue."""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Iterator
from pathlib import Path

_LENGTH = struct.Struct(">I")


class EventJournal:
    """Every envelope the register signed, in order; in memory, or also in a length-prefixed file."""

    def __init__(self, path: Path | None = None) -> None:
        self._records: list[bytes] = []
        self._path = path
        if path is not None and path.exists():
            self._records = list(_read_records(path))

    def append(self, envelope_bytes: bytes) -> None:
        """Append one envelope (written and flushed before the register moves on)."""
        if self._path is not None:
            with self._path.open("ab") as out:
                out.write(_LENGTH.pack(len(envelope_bytes)) + envelope_bytes)
        self._records.append(envelope_bytes)

    def records(self) -> list[bytes]:
        """All envelopes, oldest first."""
        return list(self._records)

    def __len__(self) -> int:
        return len(self._records)


def _read_records(path: Path) -> Iterator[bytes]:
    data = path.read_bytes()
    offset = 0
    while offset + _LENGTH.size <= len(data):
        (length,) = _LENGTH.unpack_from(data, offset)
        end = offset + _LENGTH.size + length
        if end > len(data):
            break  # torn tail of an interrupted write: the envelope was never queued
        yield data[offset + _LENGTH.size : end]
        offset = end


class UploadQueue:
    """Envelopes not yet settled by the gateway, strictly in seq order; the head goes first."""

    def __init__(self) -> None:
        self._items: deque[tuple[int, bytes]] = deque()

    def push(self, seq: int, envelope_bytes: bytes) -> None:
        """Queue a freshly signed envelope (the next seq, or past the seqs a gap notice declared lost)."""
        if self._items and seq <= self._items[-1][0]:
            raise ValueError("the upload queue only takes a newer seq")
        self._items.append((seq, envelope_bytes))

    def peek(self, limit: int) -> list[tuple[int, bytes]]:
        """The oldest `limit` queued (seq, envelope bytes), not removed."""
        return [self._items[i] for i in range(min(limit, len(self._items)))]

    def settle(self, seq: int) -> None:
        """Remove the head, which must be seq (the gateway answered it for good)."""
        if not self._items or self._items[0][0] != seq:
            raise ValueError(f"seq {seq} is not the head of the upload queue")
        self._items.popleft()

    def __len__(self) -> int:
        return len(self._items)


def encode_batch(envelopes: list[bytes]) -> bytes:
    """A serialized IngestBatch made of exactly these envelope bytes (no re-encoding of envelopes)."""
    out = bytearray()
    for raw in envelopes:
        out += b"\x0a" + _varint(len(raw)) + raw  # field 1 (envelopes), wire type 2
    return bytes(out)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


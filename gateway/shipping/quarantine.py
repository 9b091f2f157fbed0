"""Quarantine: journal records whose rows cannot be built, set aside durably so the rest of the journal ships.

One JSON file per record in `<journal dir>/quarantine/`, named by its journal position, holding the
record's exact journal bytes (base64), where it was, which device and seq it carries, why it failed and
when. The shipper writes the file before it ships the record's batch without it, so the record is in the
journal until its file is on disk. While a file exists the shipper leaves that record out of every
attempt at its batch (the same rows under the same dedup tokens, after a crash or an upgrade too); once
the batch is confirmed, the shipper at its next start, or `tracegate quarantine replay`, inserts the
record under tokens of its own (replay_entry).
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError

from gateway.ingest.journal import fsync_dir, write_file_durably
from gateway.security.pii_keys import PiiKeyRing
from gateway.shipping.dedup_tokens import replay_token
from gateway.storage.errors import classify
from gateway.storage.writer import RowsNotBuilt, build_tables, insert_tables
from gateway.wire import pb

DIRECTORY_NAME = "quarantine"
_SUFFIX = ".json"
_NAME_DIGITS = 20


@dataclass(frozen=True)
class QuarantinedRecord:
    """One record set aside: its bytes, its place in the journal and why."""

    position: int  # journal position of its frame
    end: int  # position of the next frame: [position, end) is its range in dedup tokens
    journal_id: str
    device_id: str
    seq: int
    error_type: str
    error: str
    quarantined_at_ms: int
    record: bytes  # the journal record exactly as journalled

    @property
    def reason(self) -> str:
        """One line for logs, stats and `quarantine list`."""
        return f"{self.device_id or '?'} seq {self.seq}: {self.error_type}: {self.error}"

    def to_json(self) -> str:
        """The file's text."""
        fields = asdict(self)
        fields["record"] = base64.b64encode(self.record).decode()
        return json.dumps(fields, indent=1)

    @classmethod
    def from_json(cls, text: str) -> QuarantinedRecord:
        """Parse the file's text."""
        fields = json.loads(text)
        fields["record"] = base64.b64decode(fields["record"])
        return cls(**fields)


def quarantined(
    record: bytes, position: int, end: int, journal_id: str, error_type: str, error: str
) -> QuarantinedRecord:
    """The quarantine entry of one journal record (device and seq read from it when it parses)."""
    try:
        envelope = pb.JournalRecord.FromString(record).envelope
        device_id, seq = envelope.device_id, envelope.seq
    except DecodeError:
        device_id, seq = "", -1
    return QuarantinedRecord(
        position, end, journal_id, device_id, seq, error_type, error, int(time.time() * 1000), record
    )


def batch_confirmed(entry: QuarantinedRecord, journal_id: str, shipped: int) -> bool:
    """Whether the record's batch is in storage without it (only then may the record be replayed: shipping
    the batch later, with a fix, must not put it in a second time). A record of a journal since replaced
    cannot be shipped again."""
    return entry.journal_id != journal_id or entry.end <= shipped


def replay_entry(entry: QuarantinedRecord, client: Any, database: str, pii: PiiKeyRing | None) -> str | None:
    """Build the record's rows with the code installed now and insert them under its own tokens; None when
    storage confirmed every insert, else why it stays (the rows still cannot be built, or storage refused)."""
    try:
        tables = build_tables([entry.record], pii)
    except RowsNotBuilt as exc:
        _, error_type, error = exc.failures[0]
        return f"still fails: {error_type}: {error}"
    tokens = {table: replay_token(entry.journal_id, entry.position, entry.end, table) for table in tables}
    try:
        insert_tables(client, database, tables, tokens)
    except Exception as exc:
        failure = classify(exc)
        return f"storage refused it ({failure.name}: {failure.user_message})"
    return None


class Quarantine:
    """The quarantine directory: durable writes, the set-aside positions in memory, removal after replay."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.positions = {int(path.stem) for path in self._files()}

    def _files(self) -> list[Path]:
        """The entries' files, oldest position first (other files an operator left there are ignored)."""
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.glob("*" + _SUFFIX) if p.stem.isdigit())

    def _path(self, position: int) -> Path:
        return self.directory / f"{position:0{_NAME_DIGITS}d}{_SUFFIX}"

    def add(self, entries: list[QuarantinedRecord]) -> None:
        """Write each entry durably (tmp + fsync + rename, then one directory fsync)."""
        if not self.directory.is_dir():  # receipts, buyer data too: as private as the journal
            self.directory.mkdir(mode=0o700)
            fsync_dir(self.directory.parent)
        for entry in entries:
            write_file_durably(self._path(entry.position), entry.to_json(), sync_directory=False)
        fsync_dir(self.directory)
        self.positions.update(entry.position for entry in entries)

    def replace(self, entry: QuarantinedRecord) -> None:
        """Rewrite an entry durably (its record changed: pii forget erased a buyer from it)."""
        write_file_durably(self._path(entry.position), entry.to_json())

    def holds_any(self, start: int, end: int) -> bool:
        """Whether a record of the range [start, end) is set aside (no positions: no cost)."""
        return any(start <= position < end for position in self.positions)

    def entries(self) -> list[QuarantinedRecord]:
        """Every entry on disk, oldest position first."""
        return [QuarantinedRecord.from_json(path.read_text()) for path in self._files()]

    def remove(self, position: int) -> None:
        """Delete an entry durably (after its rows were confirmed by storage)."""
        self._path(position).unlink(missing_ok=True)
        fsync_dir(self.directory)
        self.positions.discard(position)

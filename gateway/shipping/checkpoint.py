"""The shipper's checkpoint file (`shipped.json` in the journal directory): how far storage confirmed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from gateway.ingest.journal import write_file_durably

CHECKPOINT_NAME = "shipped.json"


@dataclass
class Checkpoint:
    """How far storage has confirmed, and the batch being inserted (completed first after a crash, with
    only what ClickHouse lacks: whichever way its first attempt built its rows, so files of older gateways,
    which also said whether that attempt staged receipts, read the same)."""

    shipped: int = 0
    pending: tuple[int, int] | None = None

    def to_json(self) -> str:
        """The file's text."""
        pending = None if self.pending is None else {"start": self.pending[0], "end": self.pending[1]}
        return json.dumps({"shipped": self.shipped, "pending": pending})

    @classmethod
    def from_json(cls, text: str) -> Checkpoint:
        """Parse the file's text."""
        raw = json.loads(text)
        pending = raw.get("pending")
        if not pending:
            return cls(int(raw["shipped"]))
        return cls(int(raw["shipped"]), (int(pending["start"]), int(pending["end"])))


def load_checkpoint(path: Path, *, start: int) -> Checkpoint:
    """The checkpoint on disk, or a fresh one shipping from start."""
    try:
        return Checkpoint.from_json(path.read_text())
    except FileNotFoundError:
        return Checkpoint(shipped=start)


def write_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Replace the checkpoint file atomically and durably (tmp + fsync + rename + directory fsync)."""
    write_file_durably(path, checkpoint.to_json())

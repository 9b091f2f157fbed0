"""What a fleet sent and what came back: counters by status and error code, and the ack log."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from gateway.wire import pb

STATUS_NAMES = {pb.ACCEPTED: "ACCEPTED", pb.DUPLICATE: "DUPLICATE", pb.REJECTED: "REJECTED"}


@dataclass
class UploadStats:
    """Counters of one or many uploaders."""

    statuses: Counter[str] = field(default_factory=Counter)
    error_codes: Counter[str] = field(default_factory=Counter)
    request_errors: Counter[str] = field(default_factory=Counter)
    acks: int = 0
    lost_acks: int = 0
    dropped: int = 0
    batches: int = 0
    answered: int = 0  # requests the gateway answered (any HTTP status)
    resends: int = 0

    def by_status(self) -> dict[str, int]:
        """Ack counts per status name."""
        return dict(sorted(self.statuses.items()))

    def count_ack(self, ack: pb.EventAck) -> None:
        """Count one per-event answer."""
        self.acks += 1
        self.statuses[STATUS_NAMES.get(ack.status, "UNSPECIFIED")] += 1
        if ack.error_code:
            self.error_codes[ack.error_code] += 1


class AckLog:
    """One JSON line per acknowledged event: device_id, seq, status, fiscal_sign, error_code; the OFD
    registers of the same run add theirs (`"protocol": "ofd"`, firmware_sim/ofd/link.py)."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    @classmethod
    def open(cls, path: Path) -> AckLog:
        """An ack log appending to path a whole line at a time, so both fleets of `sim --protocol mixed`
        can write to one file (the command empties it first)."""
        return cls(path.open("a", encoding="utf-8", buffering=1))

    def write(self, ack: pb.EventAck, *, lost: bool = False) -> None:
        """Log one ack; `lost` marks answers the fault injector hid from the register."""
        line: dict[str, Any] = {
            "device_id": ack.device_id,
            "seq": ack.seq,
            "status": STATUS_NAMES.get(ack.status, "UNSPECIFIED"),
            "fiscal_sign": ack.fiscal_sign,
            "error_code": ack.error_code,
        }
        if lost:
            line["lost"] = True
        self.write_line(line)

    def write_line(self, line: dict[str, Any]) -> None:
        """Log one answer as it is."""
        self._out.write(json.dumps(line, ensure_ascii=False) + "\n")

    def close(self) -> None:
        """Flush and close."""
        self._out.close()


@dataclass
class FleetSummary:
    """The JSON summary `tracegate sim` prints at the end."""

    devices: int
    duration_s: float
    events_generated: int
    events_queued: int
    receipts: int
    returns: int
    shifts_closed: int
    stats: UploadStats
    key_rotations: int = 0

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {
            "devices": self.devices,
            "duration_s": round(self.duration_s, 3),
            "events_generated": self.events_generated,
            "events_queued": self.events_queued,
            "receipts": self.receipts,
            "returns": self.returns,
            "shifts_closed": self.shifts_closed,
            "key_rotations": self.key_rotations,
            "acks": self.stats.acks,
            "acks_per_s": round(self.stats.acks / self.duration_s, 1) if self.duration_s > 0 else 0.0,
            "by_status": self.stats.by_status(),
            "by_error_code": dict(sorted(self.stats.error_codes.items())),
            "request_errors": dict(sorted(self.stats.request_errors.items())),
            "lost_acks": self.stats.lost_acks,
            "dropped_rejected": self.stats.dropped,
            "batches": self.stats.batches,
            "answered_requests": self.stats.answered,
            "resends": self.stats.resends,
        }

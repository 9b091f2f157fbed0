"""The promise, checked: every ACCEPTED ack stored exactly once, chains gapless, nothing rejected stored, and
every other table holding exactly the rows its acked events make (tables.py)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway import errors
from gateway.wire import pb
from tests.reliability.gateway_process import GatewayProcess
from tests.reliability.ofd_ledger import OfdAnswers, judge_ofd, ofd_devices
from tests.reliability.tables import StoredRows, judge_tables, not_in, quoted

Key = tuple[str, int]  # (device_id, seq)


@dataclass
class AckLedger:
    """What devices were told, event by event (from `tracegate sim --ack-log` lines or direct acks)."""

    signs: dict[Key, set[str]] = field(default_factory=lambda: defaultdict(set))
    accepted: set[Key] = field(default_factory=set)
    duplicates: set[Key] = field(default_factory=set)
    rejected_final: set[Key] = field(default_factory=set)  # non-retryable rejections
    rejection_codes: Counter[str] = field(default_factory=Counter)
    signed: dict[Key, pb.Envelope] = field(default_factory=dict)  # what the registers sent, by (device, seq)

    def add(self, device_id: str, seq: int, status: str, fiscal_sign: str, error_code: str) -> None:
        """Record one per-event answer."""
        key = (device_id, seq)
        if status == "ACCEPTED":
            self.accepted.add(key)
            self.signs[key].add(fiscal_sign)
        elif status == "DUPLICATE":
            self.duplicates.add(key)
            self.signs[key].add(fiscal_sign)
        elif status == "REJECTED":
            self.rejection_codes[error_code] += 1
            if not errors.lookup(error_code).retryable:
                self.rejected_final.add(key)

    @classmethod
    def from_ack_log(cls, path: Path) -> AckLedger:
        """Parse an ack log (one JSON object a line)."""
        ledger = cls()
        for line in path.read_text().splitlines():
            if line.strip():
                a = json.loads(line)
                if a.get("protocol") == "ofd":
                    continue  # an OFD register's answer: ofd_ledger.py
                ledger.add(a["device_id"], int(a["seq"]), a["status"], a["fiscal_sign"], a["error_code"])
        return ledger

    @property
    def acked(self) -> set[Key]:
        """Events the gateway promised to keep (ACCEPTED, or DUPLICATE of an earlier accept)."""
        return self.accepted | self.duplicates

    def final_rejection_codes(self) -> dict[str, int]:
        """Counts of non-retryable rejection codes (authentic simulator traffic should have none)."""
        return {c: n for c, n in self.rejection_codes.items() if not errors.lookup(c).retryable}


@dataclass
class StoredEvents:
    """Per (device, seq): how many rows `events` holds and their fiscal signs."""

    rows: Counter[Key] = field(default_factory=Counter)
    signs: dict[Key, set[str]] = field(default_factory=lambda: defaultdict(set))

    @classmethod
    def query(cls, gateway: GatewayProcess, devices: Iterable[str] | None = None,
              exclude: Iterable[str] = ()) -> StoredEvents:
        """Read back `events` (one result row per device, so the SQL row cap is never hit), of `devices`
        (default: all) but those in `exclude`."""
        where = f" WHERE {not_in(exclude)}"
        if devices is not None:
            listed = quoted(devices)
            where += f" AND device_id IN ({listed})" if listed else " AND 0"
        stored = cls()
        for device_id, pairs in gateway.sql(
            "SELECT device_id, groupArray((seq, fiscal_sign)) FROM tracegate.events"
            f"{where} GROUP BY device_id"
        ):
            for seq, sign in pairs:
                stored.rows[(device_id, int(seq))] += 1
                stored.signs[(device_id, int(seq))].add(sign)
        return stored

    @property
    def total(self) -> int:
        """Rows in events."""
        return sum(self.rows.values())


@dataclass
class Verdict:
    """Counts for the table and the list of broken promises (empty when all held)."""

    acked: int
    stored: int
    lost: int
    doubled: int
    problems: list[str]
    table_rows: int = 0  # rows of receipts, receipt_lines, shifts, code_events and anomalies compared

    def as_row(self) -> dict[str, Any]:
        """The table's columns."""
        return {"acked": self.acked, "stored": self.stored, "table_rows": self.table_rows,
                "lost": self.lost, "doubled": self.doubled}


def judge(ledger: AckLedger, stored: StoredEvents, *, sim_traffic: bool = True) -> Verdict:
    """Compare what was promised with what ClickHouse holds."""
    problems: list[str] = []
    acked = ledger.acked
    lost = sorted(acked - set(stored.rows))
    doubled = sorted(k for k, n in stored.rows.items() if n > 1)
    if lost:
        problems.append(f"{len(lost)} acked events missing from storage, e.g. {lost[:5]}")
    if doubled:
        problems.append(f"{len(doubled)} events stored more than once, e.g. {doubled[:5]}")
    split = sorted(k for k, s in ledger.signs.items() if len(s) != 1)
    if split:
        problems.append(f"{len(split)} events answered with different fiscal signs, e.g. {split[:5]}")
    wrong = sorted(k for k in acked if k in stored.signs and stored.signs[k] != ledger.signs[k])
    if wrong:
        problems.append(f"{len(wrong)} stored fiscal signs differ from the acked ones, e.g. {wrong[:5]}")
    rejected_stored = sorted((ledger.rejected_final - acked) & set(stored.rows))
    if rejected_stored:
        problems.append(f"{len(rejected_stored)} rejected events stored, e.g. {rejected_stored[:5]}")
    unacked = sorted(set(stored.rows) - acked)
    if unacked:
        # Possible only if a device gave up before hearing back; the simulator resends until answered.
        problems.append(f"{len(unacked)} stored events no device was ever told about, e.g. {unacked[:5]}")
    heads: dict[str, int] = defaultdict(int)
    seqs: dict[str, set[int]] = defaultdict(set)
    for device_id, seq in stored.rows:
        heads[device_id] = max(heads[device_id], seq)
        seqs[device_id].add(seq)
    gaps = {d: heads[d] - len(s) for d, s in seqs.items() if len(s) != heads[d]}
    if gaps:
        problems.append(f"chains with gaps in storage (device: missing seqs): {gaps}")
    if sim_traffic and ledger.final_rejection_codes():
        problems.append(f"authentic traffic was rejected: {ledger.final_rejection_codes()}")
    return Verdict(len(acked), stored.total, len(lost), len(doubled), problems)


def judge_all(gateway: GatewayProcess, ledger: AckLedger, *, sim_traffic: bool = True,
              ofd: OfdAnswers | None = None) -> Verdict:
    """judge() on `events`, then every other table against the envelopes the acked events were: lost and
    doubled count events missing from (or twice in) `events` and (event, table) pairs short or over.
    OFD registers' events (the gateway signed them) are judged by what the registers were answered OK
    (`ofd`, from the ack log; ofd_ledger.py) and counted in the same figures."""
    ofd_registers = ofd_devices(gateway) | (ofd.devices if ofd else set())
    verdict = judge(ledger, StoredEvents.query(gateway, exclude=ofd_registers), sim_traffic=sim_traffic)
    tables = judge_tables(ledger.acked, ledger.signed, StoredRows.query(gateway, exclude=ofd_registers))
    verdict.table_rows = tables.rows
    verdict.lost += tables.lost
    verdict.doubled += tables.doubled
    verdict.problems += tables.problems
    if ofd_registers:
        theirs = judge_ofd(gateway, ofd or OfdAnswers())
        verdict.acked += theirs.acked
        verdict.stored += theirs.stored
        verdict.table_rows += theirs.table_rows
        verdict.lost += theirs.lost
        verdict.doubled += theirs.doubled
        verdict.problems += theirs.problems
    return verdict

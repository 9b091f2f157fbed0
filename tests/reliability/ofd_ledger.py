"""The promise for OFD registers, checked: every document answered OK is stored exactly once (its event and
its rows), the gateway made one ShiftOpen before each shift's first document, every chain is gapless, and
nothing is stored that no register was answered OK for.

An OFD register never sees the seq the gateway gave its document, so documents are found by what the
register does know: a receipt by the fiscal number printed on it (its fiscal sign), a cash placement or a
Z report by its REQNUM, which the event's evidence (the request frame, TOKEN zeroed) carries in bytes 17-18.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.reliability.gateway_process import GatewayProcess
from tests.reliability.tables import quoted

OFD_TOKEN = "ofd_token"  # events.authentication of what the OFD front door made
_KIND = {"MONEY_PLACEMENT": "cash_movement", "CLOSE_SHIFT": "shift_close"}  # found by REQNUM


@dataclass(frozen=True)
class OfdDocument:
    """A document a register was answered OK for (one line of `tracegate sim --ack-log`)."""

    device_id: str
    reqnum: int
    command: str
    shift: int
    ticket_number: str = ""
    lines: int = 0


@dataclass
class OfdAnswers:
    """Every document the OFD registers were answered OK for, by (device, REQNUM)."""

    documents: dict[tuple[str, int], OfdDocument] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @classmethod
    def from_ack_log(cls, path: Path) -> OfdAnswers:
        """The OFD lines of an ack log (the other lines are our registers')."""
        answers = cls()
        for text in path.read_text().splitlines():
            line = json.loads(text) if text.strip() else {}
            if line.get("protocol") != "ofd" or line["result"] != "OK":
                continue
            document = OfdDocument(
                line["device_id"], int(line["reqnum"]), line["command"], int(line["shift"]),
                line.get("ticket_number", ""), int(line.get("lines", 0)))
            key = (document.device_id, document.reqnum)
            if answers.documents.setdefault(key, document) != document:
                answers.problems.append(f"REQNUM {key} answered OK for two documents")
        return answers

    @property
    def devices(self) -> set[str]:
        """Registers answered OK at least once."""
        return {device for device, _ in self.documents}

    def shifts(self, device_id: str) -> set[int]:
        """The shifts a register's documents went into: one ShiftOpen each."""
        return {d.shift for d in self.documents.values() if d.device_id == device_id}


def ofd_devices(gateway: GatewayProcess) -> set[str]:
    """Registers whose events ClickHouse holds as made by the OFD front door."""
    sql = f"SELECT DISTINCT device_id FROM tracegate.events WHERE authentication = '{OFD_TOKEN}'"
    rows = gateway.sql(sql)
    return {str(row[0]) for row in rows}


def _per_device(gateway: GatewayProcess, table: str, select: str, devices: Iterable[str],
                where: str = "") -> dict[str, list[list[Any]]]:
    """One result row per device (the SQL door caps rows, not array sizes)."""
    listed = quoted(devices) or "''"
    rows = gateway.sql(f"SELECT device_id, groupArray({select}) FROM tracegate.{table} "
                       f"WHERE device_id IN ({listed}){where} GROUP BY device_id")
    return {str(device): list(values) for device, values in rows}


@dataclass
class OfdVerdict:
    """Figures for the reliability table and the broken promises."""

    acked: int = 0  # events owed: documents answered OK and the shift opens before them
    stored: int = 0
    lost: int = 0
    doubled: int = 0
    table_rows: int = 0
    problems: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    twice: list[str] = field(default_factory=list)
    stray: list[str] = field(default_factory=list)


@dataclass
class OfdRows:
    """One register's rows: events (seq, kind, fiscal sign, REQNUM of its evidence) and the tables'."""

    events: list[list[Any]]
    receipts: Counter[str]  # fiscal sign -> receipts rows
    lines: dict[int, list[int]]  # seq -> line numbers
    shifts: Counter[int]  # shift number -> shifts rows
    codes: Counter[tuple[int, int, str]]  # (seq, line, cis) -> code_events rows


_REQNUM = "if(evidence = '' OR kind = 'receipt', 0, reinterpretAsUInt16(substring(evidence, 17, 2)))"


def judge_ofd(gateway: GatewayProcess, answers: OfdAnswers) -> OfdVerdict:
    """Compare what OFD registers were answered OK with `events`, `receipts`, `receipt_lines`, `shifts` and
    `code_events`."""
    devices = answers.devices | ofd_devices(gateway)
    events = _per_device(gateway, "events", f"(seq, kind, fiscal_sign, {_REQNUM})", devices)
    receipts = _per_device(gateway, "receipts", "(seq, fiscal_sign)", devices)
    lines = _per_device(gateway, "receipt_lines", "(seq, line_no)", devices)
    shifts = _per_device(gateway, "shifts", "tuple(shift_number)", devices)
    codes = _per_device(gateway, "code_events", "(seq, line, cis)", devices, " AND kind != 'check'")
    verdict = OfdVerdict(problems=list(answers.problems))
    verdict.table_rows = sum(len(v) for table in (receipts, lines, shifts, codes) for v in table.values())
    for device in sorted(devices):
        line_numbers: dict[int, list[int]] = defaultdict(list)
        for seq, line_no in lines.get(device, []):
            line_numbers[int(seq)].append(int(line_no))
        stored = OfdRows(
            events.get(device, []), Counter(str(sign) for _, sign in receipts.get(device, [])), line_numbers,
            Counter(int(row[0]) for row in shifts.get(device, [])),
            Counter((int(seq), int(line), str(cis)) for seq, line, cis in codes.get(device, [])))
        judge_register(device, [d for d in answers.documents.values() if d.device_id == device],
                       len(answers.shifts(device)), stored, verdict)
    verdict.lost, verdict.doubled = len(verdict.missing), len(verdict.twice)
    for what, found in (("answered OK missing", verdict.missing), ("or rows stored twice", verdict.twice),
                        ("stored that no register was answered OK for", verdict.stray)):
        if found:
            verdict.problems.append(f"{len(found)} OFD documents {what}, e.g. {found[:5]}")
    return verdict


def judge_register(device: str, documents: list[OfdDocument], shifts: int, stored: OfdRows,
                   verdict: OfdVerdict) -> None:
    """One register's stored rows against the documents it was answered OK and the shifts they opened."""
    verdict.stored += len(stored.events)
    verdict.acked += len(documents) + shifts
    seqs = Counter(int(seq) for seq, _, _, _ in stored.events)
    verdict.twice += [f"{device} seq {seq} x{n}" for seq, n in seqs.items() if n > 1]
    if seqs and sorted(seqs) != list(range(1, max(seqs) + 1)):
        verdict.problems.append(f"{device}: chain with gaps in storage, seqs {sorted(seqs)[:20]}")
    by_sign = Counter(str(sign) for _, kind, sign, _ in stored.events if kind == "receipt")
    seq_of_sign = {str(sign): int(seq) for seq, kind, sign, _ in stored.events if kind == "receipt"}
    by_reqnum = Counter((str(kind), int(reqnum)) for _, kind, _, reqnum in stored.events
                        if kind in _KIND.values())
    for document in documents:
        what = f"{device} {document.command} REQNUM {document.reqnum}"
        rows_problem, short = "", False
        if document.command == "TICKET":
            found = by_sign.pop(document.ticket_number, 0)
            rows = stored.receipts[document.ticket_number]
            numbers = sorted(stored.lines.get(seq_of_sign.get(document.ticket_number, 0), []))
            if rows != 1 or numbers != list(range(1, document.lines + 1)):
                rows_problem = f"{rows} receipts rows, lines {numbers[:20]} of {document.lines} goods lines"
                short = rows < 1 or len(numbers) < document.lines
        else:
            found = by_reqnum.pop((_KIND[document.command], document.reqnum), 0)
            if document.command == "CLOSE_SHIFT" and stored.shifts[document.shift] != 1:
                rows_problem = f"{stored.shifts[document.shift]} shifts rows"
                short = stored.shifts[document.shift] < 1
        if found == 0:
            verdict.missing.append(what)
        elif found > 1:
            verdict.twice.append(what)
        elif rows_problem:
            (verdict.missing if short else verdict.twice).append(f"{what}: {rows_problem}")
    opens = sum(1 for _, kind, _, _ in stored.events if kind == "shift_open")
    if opens != shifts:
        (verdict.missing if opens < shifts else verdict.twice).append(
            f"{device}: {opens} shift opens for {shifts} shifts")
    verdict.stray += [f"{device} receipt {sign}" for sign, n in by_sign.items() if n]
    verdict.stray += [f"{device} {kind} REQNUM {reqnum}" for (kind, reqnum), n in by_reqnum.items() if n]
    verdict.twice += [f"{device} code_events {key}" for key, n in stored.codes.items() if n > 1]

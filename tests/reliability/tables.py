"""The promise in every table analysts sum: each acked event's rows there, none lost, none doubled.

`events` is judged in ledger.py. Here each acked event's other rows are derived from the envelope the
register signed (its own journal, or what a scenario sent) and the receive time stored with it, by the
same pure rules ingest and row building use, and compared with what ClickHouse holds:

- receipts: one row per receipt event; receipt_lines: one per line (line numbers 1..n once each);
- shifts: one per shift close; code_events: one per marking code of a sale or return;
- anomalies of the event's own content (arithmetic, time, limits, gap notices): exactly those kinds;
  code anomalies: each code verdict that raises one has it, and no (kind, line, cis) twice.

Rows written by inserts and by materialized views alike land here, so a range that landed in some
tables and not others (or twice in some) is seen.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.ingest.chain import next_seq_after
from gateway.ingest.code_verdicts import codes_of
from gateway.ingest.decoding import decode_event_parts
from gateway.ingest.receipt_validation import content_findings, event_time_findings
from gateway.security.buyer_data import Buyer, buyer_in
from gateway.security.receipt_checks import PII_WITHOUT_CONSENT
from gateway.settings import Limits
from gateway.wire import pb
from tests.reliability.gateway_process import GatewayProcess

Key = tuple[str, int]  # (device_id, seq)
TABLES = ("receipts", "receipt_lines", "shifts", "code_events", "anomalies")
# The anomaly each verdict on a sale raises first (code_verdicts.judge_sale); other verdicts and returns
# raise none.
VERDICT_ANOMALY = {
    "syntax_error": "code_invalid", "unknown": "code_unknown", "blocked": "code_blocked",
    "not_in_circulation": "code_not_in_circulation", "already_sold": "code_sold_twice",
    "expired": "code_expired", "not_owner": "code_not_owner",
}


@dataclass
class Expected:
    """The rows one accepted event must have made outside `events`."""

    rows: dict[str, int]  # table -> rows (anomalies: those of its content, code anomalies not counted)
    content_kinds: Counter[str]  # anomaly kinds its content gives


def expected_of(envelope: pb.Envelope, received_ms: int, limits: Limits) -> Expected:
    """What an accepted envelope makes, by the rules ingest and row building apply."""
    rows = dict.fromkeys(TABLES, 0)
    decoded = decode_event_parts(envelope, limits)
    kinds = Counter(f.kind for f in decoded.findings)
    event = decoded.event
    if event is not None:
        body = event.WhichOneof("body")
        kinds.update(f.kind for f in event_time_findings(event, received_ms, limits))
        kinds.update(f.kind for f in content_findings(event, received_ms))
        _, chain_findings = next_seq_after(envelope.seq, event.gap_notice if body == "gap_notice" else None)
        kinds.update(f.kind for f in chain_findings)
        if body == "receipt":
            rows["receipts"] = 1
            rows["receipt_lines"] = len(event.receipt.lines)
            rows["code_events"] = len(codes_of(event))
        elif body == "shift_close":
            rows["shifts"] = 1
    if buyer_in(envelope.event, event) is Buyer.HIDDEN:  # not kept (gateway/security/buyer_data.py)
        kinds[PII_WITHOUT_CONSENT] += 1
    rows["anomalies"] = sum(kinds.values())
    return Expected(rows, kinds)


def quoted(devices: Iterable[str]) -> str:
    """Device ids as an SQL list's items (no quote can get into one)."""
    return ",".join("'" + d.replace("'", "") + "'" for d in sorted(set(devices)))


def not_in(devices: Iterable[str]) -> str:
    """A WHERE condition leaving these devices out (true when there are none)."""
    listed = quoted(devices)
    return f"device_id NOT IN ({listed})" if listed else "1"


@dataclass
class StoredRows:
    """What ClickHouse holds outside `events`, per acked event."""

    counts: dict[str, Counter[Key]] = field(default_factory=lambda: {t: Counter() for t in TABLES})
    line_numbers: dict[Key, list[int]] = field(default_factory=lambda: defaultdict(list))
    anomalies: dict[Key, list[tuple[str, int, str]]] = field(default_factory=lambda: defaultdict(list))
    verdicts: dict[Key, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))  # sales
    received_ms: dict[Key, int] = field(default_factory=dict)

    @classmethod
    def query(cls, gateway: GatewayProcess, exclude: Iterable[str] = ()) -> StoredRows:
        """Read every table back, one result row per device (the SQL door caps rows, not array sizes),
        but the devices in `exclude`."""
        stored = cls()
        per_device = {
            "events": "groupArray((seq, toUnixTimestamp64Milli(received_at)))",
            "receipts": "groupArray(tuple(seq))",
            "receipt_lines": "groupArray((seq, line_no))",
            "shifts": "groupArray(tuple(seq))",
            "code_events": "groupArray((seq, verdict, cis, kind))",
            "anomalies": "groupArray((seq, kind, line, cis))",
        }
        where = {"code_events": " AND kind != 'check'", "anomalies": " AND accepted"}
        for table, select in per_device.items():
            rows = gateway.sql(
                f"SELECT device_id, {select} FROM tracegate.{table} WHERE {not_in(exclude)}"
                f"{where.get(table, '')} GROUP BY device_id"
            )
            for device_id, values in rows:
                for value in values:
                    stored._add(table, device_id, value)
        return stored

    def _add(self, table: str, device_id: str, value: list[Any]) -> None:
        key = (device_id, int(value[0]))
        if table == "events":
            self.received_ms[key] = int(value[1])
            return
        self.counts[table][key] += 1
        if table == "receipt_lines":
            self.line_numbers[key].append(int(value[1]))
        elif table == "code_events" and value[3] == "sale":  # returns raise no anomaly
            self.verdicts[key].append((str(value[1]), str(value[2])))
        elif table == "anomalies":
            self.anomalies[key].append((str(value[1]), int(value[2]), str(value[3])))


@dataclass
class TableVerdict:
    """Rows compared, event-table pairs short or over, and what went wrong."""

    rows: int = 0
    lost: int = 0
    doubled: int = 0
    problems: list[str] = field(default_factory=list)


def judge_tables(
    acked: set[Key], signed: Mapping[Key, pb.Envelope], stored: StoredRows, limits: Limits | None = None
) -> TableVerdict:
    """Compare every table with what each acked event must have made there."""
    limits = limits or Limits()
    verdict = TableVerdict(rows=sum(sum(c.values()) for c in stored.counts.values()))
    short: dict[str, list[Key]] = defaultdict(list)
    over: dict[str, list[Key]] = defaultdict(list)
    wrong: list[str] = []
    unknown = sorted(k for k in acked if k not in signed)
    if unknown:
        verdict.problems.append(f"{len(unknown)} acked events whose signed envelope the test lost, e.g. "
                                f"{unknown[:3]}")
    for key in sorted(acked & set(signed)):
        if key not in stored.received_ms:
            continue  # not in events: ledger.judge reports it lost
        expected = expected_of(signed[key], stored.received_ms[key], limits)
        anomalies = stored.anomalies.get(key, [])
        content = Counter(kind for kind, _, _ in anomalies if not kind.startswith("code_"))
        for table in TABLES:
            want = expected.rows[table]
            have = content.total() if table == "anomalies" else stored.counts[table][key]
            if have < want:
                short[table].append(key)
            elif have > want:
                over[table].append(key)
        lines = stored.line_numbers.get(key, [])
        if sorted(lines) != list(range(1, len(lines) + 1)):
            wrong.append(f"{key}: receipt_lines numbered {sorted(lines)[:10]}")
        if content != expected.content_kinds and content.total() == expected.content_kinds.total():
            wrong.append(f"{key}: anomalies {dict(content)}, expected {dict(expected.content_kinds)}")
        code_rows = Counter((kind, line, cis) for kind, line, cis in anomalies if kind.startswith("code_"))
        if any(n > 1 for n in code_rows.values()):
            over["anomalies"].append(key)
        raised = {(kind, cis) for kind, _, cis in code_rows}
        missing = [(VERDICT_ANOMALY[v], cis) for v, cis in stored.verdicts.get(key, [])
                   if v in VERDICT_ANOMALY and (VERDICT_ANOMALY[v], cis) not in raised]
        if missing:
            short["anomalies"].append(key)
    stray = {
        table: sorted(k for k in stored.counts[table] if k not in acked) for table in TABLES
    }
    for table, keys in stray.items():
        if keys:
            verdict.problems.append(f"{table}: rows of {len(keys)} events no device was told about, "
                                    f"e.g. {keys[:3]}")
    for table, keys in short.items():
        verdict.problems.append(f"{table}: rows missing for {len(keys)} acked events, e.g. {keys[:3]}")
    for table, keys in over.items():
        verdict.problems.append(f"{table}: rows doubled for {len(keys)} acked events, e.g. {keys[:3]}")
    verdict.problems += wrong[:5]
    verdict.lost = sum(len(keys) for keys in short.values())
    verdict.doubled = sum(len(keys) for keys in over.values())
    return verdict

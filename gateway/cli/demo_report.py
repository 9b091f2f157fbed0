"""The demo's report: what the registers were told (their ack log) against what ClickHouse holds."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.anomaly_kinds import BY_NAME
from gateway.i18n import translate


@dataclass
class Answered:
    """What the registers were told, from the simulator's ack log."""

    accepted: set[tuple[str, int]] = field(default_factory=set)  # our registers: (device, seq) ACCEPTED
    ofd_documents: set[tuple[str, int]] = field(default_factory=set)  # OFD: (device, REQNUM) answered OK
    ofd_shifts: set[tuple[str, int]] = field(default_factory=set)  # OFD: (device, shift) of those

    @property
    def ofd_events(self) -> int:
        """Events the gateway made of the OFD documents: one each, and a ShiftOpen before the first
        document of every shift (an OFD register opens its shift implicitly)."""
        return len(self.ofd_documents) + len(self.ofd_shifts)


def answered_in(path: Path) -> Answered:
    """Read `tracegate sim --ack-log`: the lines of both kinds of register."""
    answered = Answered()
    with path.open() as f:
        for line in f:
            ack = json.loads(line)
            if ack.get("protocol") == "ofd":
                if ack["result"] == "OK":
                    answered.ofd_documents.add((ack["device_id"], int(ack["reqnum"])))
                    answered.ofd_shifts.add((ack["device_id"], int(ack["shift"])))
            elif ack["status"] == "ACCEPTED":
                answered.accepted.add((ack["device_id"], int(ack["seq"])))
    return answered


def _money(minor: int) -> str:
    return f"{minor / 100:,.2f}".replace(",", " ")


def print_summary(sim: dict[str, Any], summary: dict[str, Any], answered: Answered, rogue_accepted: int,
                  data: Path, port: int, ofd_port: int) -> bool:
    """Print the demo's report; returns True if every accepted event is stored exactly once."""
    ours, ofd = sim.get("tracegate", {}), sim.get("ofd", {})
    signed = len(answered.accepted) + rogue_accepted
    accepted = signed + answered.ofd_events
    stored, distinct = summary["events_stored"], summary["events_distinct"]
    by_auth = summary.get("events_by_authentication", {})
    exact: bool = (stored == accepted == distinct and by_auth.get("device_signature", 0) == signed
                   and by_auth.get("ofd_token", 0) == answered.ofd_events)
    print("\n══════════ tracegate demo: what the registers sent and what ClickHouse holds ══════════")
    versions = "/".join(f"2.0.{v % 10}" for v in reversed(ofd.get("versions", [])))
    print(f"registers: {ours.get('devices', 0)} speaking our contract (signed, chained, HTTP) and "
          f"{ofd.get('devices', 0)} speaking OFD {versions} (TOKEN and REQNUM, TCP)   "
          f"seconds: {ours.get('duration_s') or ofd.get('duration_s')}")
    print(f"ours:      events sent {ours.get('events_generated')} (each receipt, shift open/close and cash "
          "movement is one event)")
    print("acks:      " + "   ".join(f"{k} {v}" for k, v in sorted(ours.get("by_status", {}).items())))
    print("           (the gateway's answers: ACCEPTED = journalled, promised to ClickHouse;"
          " DUPLICATE = a resend after a lost answer, same fiscal sign;"
          " REJECTED = not authentic or not well-formed)")
    rejected = ours.get("by_error_code", {})
    if rejected:
        print("rejected:  " + "   ".join(f"{k} {v}" for k, v in sorted(rejected.items())))
        print("           (the registers' rejections by error code; gateway/errors.py says what each means)")
    if ofd:
        resends, mismatches = ofd.get("resends", 0), ofd.get("replay_mismatches", 0)
        print("ofd:       documents answered OK: "
              + ", ".join(f"{k} {v}" for k, v in sorted(ofd.get("documents_ok", {}).items()))
              + f"   made offline {ofd.get('offline_documents', 0)}   answers lost and asked for again"
              f" {resends}, answered byte for byte the same {resends - mismatches}")
        print("           (one TCP exchange per document; a resend of the same TOKEN and REQNUM gets the"
              " stored answer and counts nothing; an offline backlog goes in order)")
    rogue = sim.get("rogue_rejections", {})
    if rogue:
        print("rogue:     " + "   ".join(f"{k} {v}" for k, v in sorted(rogue.items())))
        print("           (the stranger, forger, fork, gap and future clock sent on purpose, each refused)")
    print(
        f"stored:    events {stored} ({', '.join(f'{k} {v}' for k, v in summary['events_by_kind'].items())})"
    )
    print("           by authentication: " + ", ".join(f"{k} {v}" for k, v in by_auth.items()))
    print(f"           receipts {summary['receipts']}, receipt lines {summary['receipt_lines']}")
    print("           (read back from ClickHouse: events by kind and by how they were authenticated, the"
          " register's signature or its OFD token; receipts and their lines are rows of them)")
    if summary["rejections_by_code"]:
        print(
            "           rejection records: "
            + ", ".join(f"{k} {v}" for k, v in summary["rejections_by_code"].items())
        )
        print("           (rejected events are kept too, for support: table rejections)")
    verdict = "equal: every accepted event is stored exactly once" if exact else "NOT EQUAL"
    print(f"check:     accepted {accepted} = stored {stored} = distinct (device, seq) {distinct}: {verdict}")
    print(f"           (accepted: {signed} ACCEPTED acks to signed events, counted from the registers' own"
          f" log, + {len(answered.ofd_documents)} OFD documents answered OK + {len(answered.ofd_shifts)}"
          " shifts the gateway opened for them, a ShiftOpen before each shift's first document;"
          " stored and distinct rows from ClickHouse)")
    print("\ntotals per retailer (tenge; sales and returns of sale, net = sales - returns):")
    print(f"  {'SELLER TIN':<14}{'RECEIPTS':>9}{'SALES':>16}{'RETURNS':>14}{'NET':>16}")
    for row in summary["per_seller"]:
        print(
            f"  {row['seller_tin']:<14}{row['receipts']:>9}{_money(row['sales']):>16}"
            f"{_money(row['returns']):>14}{_money(row['net']):>16}"
        )
    print("\nanomalies found (the events were kept; these are for analysts, one row per finding):")
    for kind, count in summary["anomalies_by_kind"].items() or {"none": 0}.items():
        print(f"  {kind:<28}{count:>8}  {translate('en', f'kind.{kind}') if kind in BY_NAME else ''}")
    print(f"""
what to run next:
  .venv/bin/tracegate serve --data {data} --port {port} --ofd-port {ofd_port}   # the gateway again
  .venv/bin/tracegate devices list --data {data}             # the registers it knows, of both kinds
  .venv/bin/tracegate anomalies --data {data} --kind code_clone   # the queue in a terminal
  .venv/bin/tracegate sql --data {data} "SELECT kind, count() FROM tracegate.anomalies GROUP BY kind"
  .venv/bin/tracegate sim --gateway http://127.0.0.1:{port} --data {data} --register --devices 5 --duration 20
  .venv/bin/tracegate sim --protocol ofd --gateway http://127.0.0.1:{port} --data {data} --register
  curl http://127.0.0.1:{port}/readyz                        # journal and shipper state
  make test                                                   # the whole test suite
  read README.md, proto/README.md (the wire contract), docs/ofd.md (the OFD front door) and
  ../shared/design/ for the design""")
    return exact

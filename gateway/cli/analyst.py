"""`tracegate trace|anomalies|reconcile`: the analyst and retailer questions, answered in the terminal."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.auth.tokens import ADMIN
from gateway.cli.admin_client import AdminClient, AdminError, admin_token
from gateway.cli.main import add_common_options, settings_from_args
from gateway.errors import GatewayError
from gateway.query.anomalies import AnomalyFilter, AnomalyQueue, csv_header, csv_rows
from gateway.query.books import compare_books, comparison_csv, parse_books
from gateway.query.local_time import TZ_LABEL, local_text, parse_time
from gateway.query.reconcile import parse_date, reconcile_day
from gateway.query.trace import trace_code
from gateway.service import running_gateway_url
from gateway.settings import Settings
from gateway.storage.client import Storage
from gateway.storage.migrations import apply_migrations


def register(sub: Any) -> None:
    """Add the trace, anomalies and reconcile subcommands."""
    trace = sub.add_parser("trace", help="where did this item go: every event of a marking code")
    trace.add_argument("code", help="a marking code as scanned (\\u001d for GS) or a cis")
    trace.set_defaults(func=run_trace)
    anomalies = sub.add_parser("anomalies", help="the anomaly queue, filtered")
    anomalies.add_argument("--kind", action="append", default=[], help="anomaly kind (repeat or a,b)")
    anomalies.add_argument("--tin", default=None, help="seller TIN")
    anomalies.add_argument("--store", default=None)
    anomalies.add_argument("--device", default=None)
    anomalies.add_argument("--gtin", default=None, help="GTIN of the coded goods (14 digits)")
    anomalies.add_argument(
        "--since", default=None, help="event time from, local time UTC+5 (2026-01-15, …T09:00 or 15.01.2026)"
    )
    anomalies.add_argument("--until", default=None, help="event time before (as --since)")
    anomalies.add_argument("--status", default=None, help="open, resolved, assigned, unassigned or mine")
    anomalies.add_argument("--limit", type=int, default=50, help="incidents (1-1000, default 50; --csv: all)")
    anomalies.add_argument("--csv", action="store_true", help="write every matching row as CSV")
    anomalies.set_defaults(func=run_anomalies)
    reconcile = sub.add_parser("reconcile", help="does my shift add up: Z-reports vs receipts, books")
    reconcile.add_argument("--tin", default=None, help="seller TIN (a retailer token implies it)")
    reconcile.add_argument("--date", required=True, help="YYYY-MM-DD, the seller's local day (UTC+5)")
    reconcile.add_argument("--books", type=Path, default=None, help="your books as CSV to compare")
    reconcile.add_argument("--csv", action="store_true", help="with --books: the comparison as CSV")
    reconcile.set_defaults(func=run_reconcile)
    for parser in (trace, anomalies, reconcile):
        parser.add_argument("--json", action="store_true", help="print JSON")
        add_common_options(parser)
        parser.add_argument("--gateway", default=None, help="URL of a running gateway")
        parser.add_argument("--token", default=None, help="access token (default: <data>/admin.token)")


class Reader:
    """Asks the running gateway over HTTP, or opens the data directory itself when none runs."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.settings: Settings = settings_from_args(args)
        url = args.gateway or running_gateway_url(self.settings)
        self.http = AdminClient(url, admin_token(self.settings, args.token)) if url else None
        self._storage: Storage | None = None

    def get(self, path: str, params: dict[str, Any]) -> Any:
        """GET a JSON answer of the API."""
        assert self.http is not None
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v not in (None, "")}, doseq=True)
        return self.http.call("GET", f"{path}?{query}" if query else path)

    def post_text(self, path: str, params: dict[str, Any], body: bytes) -> str:
        """POST a text body and return the answer's text."""
        assert self.http is not None
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v not in (None, "")})
        request = urllib.request.Request(f"{self.http.url}{path}?{query}", data=body, method="POST")
        request.add_header("Authorization", f"Bearer {self.http.token}")
        request.add_header("Content-Type", "text/csv")
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return str(response.read().decode())
        except urllib.error.HTTPError as exc:
            err = json.loads(exc.read() or b"{}")
            raise AdminError(f"{err.get('error')}: {err.get('detail')}") from None

    def local(self, fn: Callable[[Any, str], Any]) -> Any:
        """Run fn(client, database) on the data directory opened here (as the operator: admin scope)."""
        if self._storage is None:
            self._storage = Storage.open(self.settings)
            storage = self._storage
            storage.run_sync(lambda c: apply_migrations(c, storage.database))
        db = self._storage.database
        return self._storage.run_sync(lambda c: fn(c, db))

    def close(self) -> None:
        """Close the data directory if it was opened."""
        if self._storage is not None:
            self._storage.close()


def _fail(command: str, message: str) -> int:
    print(f"tracegate {command}: {message}", file=sys.stderr)
    return 1


def _when(ms: int | None) -> str:
    return local_text(ms)  # the sellers' time (UTC+5), as the pages show it


def _money(minor: int | None) -> str:
    if minor is None:
        return "-"
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100:,}.{abs(minor) % 100:02d}".replace(",", " ")


def _run(command: str, args: argparse.Namespace, body: Callable[[Reader], int]) -> int:
    try:
        reader = Reader(args)
    except AdminError as exc:
        return _fail(command, str(exc))
    try:
        return body(reader)
    except (AdminError, GatewayError) as exc:
        return _fail(command, str(exc))
    finally:
        reader.close()


def run_trace(args: argparse.Namespace) -> int:
    """Print a code's registry entry, status and timeline."""

    def body(reader: Reader) -> int:
        if reader.http:
            result = reader.get("/v1/trace/" + urllib.parse.quote(args.code, safe=""), {})
        else:
            result = reader.local(lambda c, db: trace_code(c, db, ADMIN, args.code))
        if args.json:
            print(json.dumps(result, indent=2))
            return 0
        code, reg = result["code"], result["registry"]
        print(
            f"cis {code['cis']}  gtin {code['gtin']}  group {code['group'] or '?'}  status {result['status']}"
        )
        if reg:
            owner = reg["owner_tin"] or {"another": "another seller", "none": "none"}.get(reg["owner"], "-")
            print(f"registry: owner {owner}  status {reg['status']}  expires {reg['expires_on']}")
        elif not result.get("visible", True):
            print("registry: not visible to you (neither your code nor sold by you)")
        else:
            print("registry: no entry")
        time_zone = f"TIME ({TZ_LABEL})"
        print(f"\n{time_zone:<20}{'EVENT':<9}{'VERDICT':<20}{'SELLER':<14}{'STORE':<10}{'DEVICE':<22}DOC")
        for e in result["events"]:
            print(
                f"{_when(e['event_ms']):<20}{e['kind']:<9}{e['verdict'] or '-':<20}{e['seller_tin']:<14}"
                f"{e['store_id']:<10}{e['device_id']:<22}{e['document_number']}"
            )
        print(f"{len(result['events'])} event(s): {result['sales']} sale(s), {result['returns']} return(s)")
        for a in result["anomalies"]:
            print(f"anomaly {a['kind']}: {a['detail']}")
        return 0

    return _run("trace", args, body)


def run_anomalies(args: argparse.Namespace) -> int:
    """Print (or export) the anomaly queue: one line per incident."""
    kinds = [k for part in args.kind for k in part.split(",") if k]
    params = {
        "kind": ",".join(kinds),
        "tin": args.tin,
        "store": args.store,
        "device": args.device,
        "gtin": args.gtin,
        "since": args.since,
        "until": args.until,
        "status": args.status,
    }

    def page(reader: Reader, limit: int, cursor: str | None) -> dict[str, Any]:
        if reader.http:
            answer: dict[str, Any] = reader.get(
                "/v1/anomalies", {**params, "limit": limit, "cursor": cursor, "counts": 0}
            )
            return answer
        flt = AnomalyFilter(
            tuple(kinds), args.tin, args.store, args.device, args.gtin,
            parse_time(args.since, name="--since"), parse_time(args.until, name="--until"), args.status,
        )
        return dict(
            reader.local(lambda c, db: AnomalyQueue(c, db, ADMIN).page(flt, limit=limit, cursor=cursor))
        )

    def body(reader: Reader) -> int:
        # Checked here, before anything is asked: a wrong date is a one-line error, not a traceback.
        parse_time(args.since, name="--since")
        parse_time(args.until, name="--until")
        if args.csv:
            sys.stdout.write(csv_header("en"))
            cursor: str | None = None
            while True:
                result = page(reader, 1000, cursor)
                sys.stdout.write(csv_rows(result["items"]))
                cursor = result["next_cursor"]
                if not cursor:
                    return 0
        result = page(reader, args.limit, None)
        if args.json:
            print(json.dumps(result, indent=2, ensure_ascii=False))
            return 0
        time_zone = f"TIME ({TZ_LABEL})"
        print(f"{time_zone:<20}{'KIND':<26}{'SELLER':<14}{'DEVICE':<22}{'SEQ':>6}  {'CODE':<32}DETAIL")
        for i in result["items"]:
            kind = i["kind"] + (f" +{len(i['kinds']) - 1}" if len(i["kinds"]) > 1 else "")
            print(
                f"{_when(i['event_ms']):<20}{kind:<26}{i['seller_tin']:<14}{i['device_id']:<22}"
                f"{i['seq']:>6}  {i['cis'] or '-':<32}{i['detail'][:90]}"
            )
        more = " (more: --limit or --csv)" if result["next_cursor"] else ""
        print(f"{len(result['items'])} incident{'' if len(result['items']) == 1 else 's'}{more}")
        return 0

    return _run("anomalies", args, body)


def _print_day(result: dict[str, Any]) -> None:
    s = result["summary"]
    print(
        f"seller {result['seller_tin']}  {result['date']}: {s['shifts']} shift(s), {s['shifts_agreeing']} "
        f"agree, {s['missing_documents']} missing document(s), {s['rejected_events']} rejected event(s)"
    )
    for shift in result["shifts"]:
        verdict = "OK" if shift["agrees"] else "DOES NOT ADD UP"
        print(
            f"\n{shift['device_id']} shift {shift['shift_number']} (closed {_when(shift['closed_ms'])}): "
            f"{verdict}"
        )
        print(f"  {'':<22}{'Z-REPORT':>16}{'RECEIPTS':>16}")
        for op in shift["operations"]:
            mark = "" if op["agrees"] else "  <-- differs"
            print(f"  {op['operation'] + ' count':<22}{op['z_count']:>16}{op['receipts_count']:>16}{mark}")
            print(
                f"  {op['operation'] + ' sum':<22}{_money(op['z_sum']):>16}{_money(op['receipts_sum']):>16}"
            )
        for p in shift["payments"]:
            mark = "" if p["agrees"] else "  <-- differs"
            print(f"  {p['key']:<22}{_money(p['z_sum']):>16}{_money(p['receipts_sum']):>16}{mark}")
        if shift["missing_document_count"]:
            print(f"  missing documents: {shift['missing_documents']}")
    for r in result["rejections"]:
        print(
            f"\nrejected: {r['device_id']} {r['error_code']} x{r['count']} (seq {r['first_seq']}-"
            f"{r['last_seq']})\n  what to do: {r['what_to_do']}"
        )


def run_reconcile(args: argparse.Namespace) -> int:
    """Print a seller's day; with --books, the comparison with the retailer's own books."""

    def body(reader: Reader) -> int:
        day = parse_date(args.date)
        if args.books is not None:
            raw = args.books.read_bytes()
            params = {"tin": args.tin, "date": args.date}
            if reader.http:
                if args.csv:
                    sys.stdout.write(
                        reader.post_text("/v1/reconcile/books", {**params, "format": "csv"}, raw)
                    )
                    return 0
                result = json.loads(reader.post_text("/v1/reconcile/books", params, raw))
            else:
                books = parse_books(raw)
                result = reader.local(lambda c, db: compare_books(c, db, ADMIN, args.tin, books, day=day))
                if args.csv:
                    sys.stdout.write(comparison_csv(result))
                    return 0
            if args.json:
                print(json.dumps(result, indent=2))
                return 0
            print("books vs receipts: " + ", ".join(f"{k} {v}" for k, v in result["summary"].items()))
            strangers = result["covers"].get("not_sellers_registers") or []
            if strangers:
                print(f"  not registers of this seller, left out: {', '.join(strangers)}")
            for r in result["rows"]:
                if r["status"] != "matched":
                    print(
                        f"  {r['status']:<24}{r['device_id']:<22}doc {r['document_number']:<8}"
                        f"ours {_money(r['our_total']):>14}  yours {_money(r['their_total']):>14}"
                    )
            return 0
        if reader.http:
            result = reader.get("/v1/reconcile/shifts", {"tin": args.tin, "date": args.date})
        else:
            result = reader.local(lambda c, db: reconcile_day(c, db, ADMIN, args.tin, day))
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            _print_day(result)
        return 0

    return _run("reconcile", args, body)

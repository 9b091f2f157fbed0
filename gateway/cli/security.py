"""`tracegate audit` and `tracegate pii forget`: read the audit log, erase a buyer's personal data."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from gateway.cli.admin_client import AdminClient, AdminError, gateway_client
from gateway.cli.main import add_common_options, settings_from_args


def _gateway_options(parser: argparse.ArgumentParser) -> None:
    add_common_options(parser)
    parser.add_argument(
        "--gateway", default=None, help="URL of a running gateway (default: the one of --data)"
    )
    parser.add_argument("--token", default=None, help="admin token (default: <data>/admin.token)")


def register(sub: Any) -> None:
    """Add the audit and pii subcommands."""
    audit = sub.add_parser("audit", help="show the audit log of admin actions")
    audit.add_argument("--since", default=None, help="ISO date or time (UTC), e.g. 2026-11-27T09:00")
    audit.add_argument("--json", action="store_true", help="print JSON lines")
    _gateway_options(audit)
    audit.set_defaults(func=run_audit)

    pii = sub.add_parser("pii", help="buyer personal data")
    actions = pii.add_subparsers(dest="action", metavar="ACTION", required=True)
    forget = actions.add_parser("forget", help="erase one person's data from every receipt; prints the count")
    forget.add_argument("--email", default="")
    forget.add_argument("--phone", default="")
    forget.add_argument("--iin", default="")
    _gateway_options(forget)
    forget.set_defaults(func=run_forget)


def _client(args: argparse.Namespace) -> AdminClient:
    client = gateway_client(settings_from_args(args), args.gateway, args.token)
    if client is None:
        raise AdminError("no gateway runs on this data directory: start tracegate serve or pass --gateway")
    return client


def run_audit(args: argparse.Namespace) -> int:
    """Print audit rows since --since."""
    since_ms = 0
    if args.since:
        since = dt.datetime.fromisoformat(args.since)
        since_ms = int(since.replace(tzinfo=since.tzinfo or dt.UTC).timestamp() * 1000)
    try:
        rows = _client(args).call("GET", f"/v1/admin/audit?since_ms={since_ms}")["audit"]
    except AdminError as exc:
        print(f"tracegate: {exc}", file=sys.stderr)
        return 1
    for row in rows:
        if args.json:
            print(json.dumps(row))
            continue
        at = dt.datetime.fromtimestamp(row["at_ms"] / 1000, dt.UTC).isoformat(timespec="milliseconds")
        print(
            f"{at}  {row['principal']:<16} {row['action']:<16} {row['target']:<24} {row['remote']:<16} "
            f"{row['detail']}"
        )
    return 0


def run_forget(args: argparse.Namespace) -> int:
    """Erase a person's buyer data and print how many receipts held it and what is left (exit 1 if any)."""
    if not (args.email or args.phone or args.iin):
        print("tracegate: give --email, --phone or --iin", file=sys.stderr)
        return 2
    try:
        answer = _client(args).call(
            "POST", "/v1/admin/pii/forget", {"email": args.email, "phone": args.phone, "iin": args.iin}
        )
    except AdminError as exc:
        print(f"tracegate: {exc}", file=sys.stderr)
        return 1
    print(f"erased buyer data from {answer['erased']} receipts; remaining: {answer['remaining']}")
    if answer.get("unshipped"):
        print(f"{answer['unshipped']} receipt(s) naming this person are still in the gateway's journal, not "
              "shipped (storage behind): run this again once they are")
    if answer.get("sealed_in_journal"):
        print(f"{answer['sealed_in_journal']} sealed copy(ies) stay in journal segments already shipped, "
              "deleted with their segment (the next shipped batch)")
    return 0 if answer["remaining"] == 0 else 1

"""`tracegate tokens issue|list|revoke`: access tokens for analysts, retailers (bound to a TIN) and admins."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import urllib.parse
from typing import Any

from gateway.auth.tokens import SCOPES, load_tokens, new_token, revoke_token, save_token
from gateway.cli.admin_client import AdminError, gateway_client, on_data_dir
from gateway.cli.main import add_common_options, settings_from_args
from gateway.errors import GatewayError


def register(sub: Any) -> None:
    """Add the tokens subcommand and its actions."""
    parser = sub.add_parser(
        "tokens",
        help="issue, list and revoke access tokens (analyst, retailer, admin)",
        description="Access tokens for the analyst and retailer API and pages. Only a hash is stored; the "
        "token is printed once. Talks to the running gateway of --data (or --gateway URL) with the admin "
        "token; when no gateway runs, opens the data directory itself.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    issue = actions.add_parser("issue", help="issue a token and print it once")
    issue.add_argument("--scope", required=True, choices=SCOPES)
    issue.add_argument("--tin", default="", help="seller TIN a retailer token is bound to")
    issue.add_argument("--expires-days", type=float, default=None, help="days until it stops working")
    issue.add_argument("--label", default="", help="who or what it is for")
    issue.add_argument("--json", action="store_true", help="print JSON")
    issue.set_defaults(func=run_issue)
    listing = actions.add_parser("list", help="list tokens (never their secrets)")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=run_list)
    revoke = actions.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("token_id")
    revoke.set_defaults(func=run_revoke)
    for action in (issue, listing, revoke):
        add_common_options(action)
        action.add_argument("--gateway", default=None, help="URL of a running gateway")
        action.add_argument("--token", default=None, help="admin token (default: <data>/admin.token)")


def _fail(message: str) -> int:
    print(f"tracegate tokens: {message}", file=sys.stderr)
    return 1


def _when(ms: int | None) -> str:
    if ms is None:
        return "never"
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M")


def run_issue(args: argparse.Namespace) -> int:
    """Issue one token and print it (it cannot be shown again)."""
    settings = settings_from_args(args)
    body = {
        "scope": args.scope,
        "seller_tin": args.tin,
        "expires_days": args.expires_days,
        "label": args.label,
    }
    try:
        client = gateway_client(settings, args.gateway, args.token)
        if client is not None:
            answer = client.call("POST", "/v1/admin/tokens", body)
        else:
            secret, token = new_token(args.scope, args.tin, expires_days=args.expires_days, label=args.label)
            on_data_dir(settings, lambda c, db: save_token(c, db, token))
            answer = {"token": secret, **token.public()}
    except (AdminError, GatewayError) as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps(answer))
        return 0
    bound = f" for seller {answer['seller_tin']}" if answer["seller_tin"] else ""
    print(
        f"issued {answer['scope']} token {answer['token_id']}{bound}, expires {_when(answer['expires_ms'])}"
    )
    print("the token (shown once; keep it secret):")
    print(answer["token"])
    return 0


def run_list(args: argparse.Namespace) -> int:
    """List tokens as a table or JSON."""
    settings = settings_from_args(args)
    try:
        client = gateway_client(settings, args.gateway, args.token)
        if client is not None:
            tokens = client.call("GET", "/v1/admin/tokens")["tokens"]
        else:
            tokens = [t.public() for t in on_data_dir(settings, load_tokens)]
    except (AdminError, GatewayError) as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps(tokens, indent=2))
        return 0
    print(f"{'TOKEN ID':<14}{'SCOPE':<10}{'SELLER TIN':<14}{'EXPIRES':<18}{'STATE':<9}LABEL")
    for t in tokens:
        state = "active" if t["active"] else ("revoked" if t["revoked"] else "expired")
        print(
            f"{t['token_id']:<14}{t['scope']:<10}{t['seller_tin']:<14}{_when(t['expires_ms']):<18}"
            f"{state:<9}{t['label']}"
        )
    print(f"{len(tokens)} token(s)")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    """Revoke one token."""
    settings = settings_from_args(args)
    try:
        client = gateway_client(settings, args.gateway, args.token)
        if client is not None:
            client.call("POST", f"/v1/admin/tokens/{urllib.parse.quote(args.token_id, safe='')}/revoke")
        else:
            on_data_dir(
                settings, lambda c, db: save_token(c, db, revoke_token(load_tokens(c, db), args.token_id))
            )
    except (AdminError, GatewayError) as exc:
        return _fail(str(exc))
    print(f"revoked {args.token_id}")
    return 0

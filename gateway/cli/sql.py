"""`tracegate sql QUERY`: read-only SQL on the gateway's ClickHouse (through the running gateway if any)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from gateway.cli.admin_client import AdminError, gateway_client, on_data_dir_storage
from gateway.cli.main import add_common_options, settings_from_args
from gateway.query.sql import readonly_query_sync


def register(sub: Any) -> None:
    """Add the sql subcommand."""
    parser = sub.add_parser(
        "sql",
        help="run one read-only SQL query on the gateway's ClickHouse",
        description="Run one read-only query (tables are in database `tracegate`, e.g. "
        "`SELECT kind, count() FROM tracegate.events GROUP BY kind`). Goes through the running gateway "
        "of --data (admin token) or opens the data directory itself when no gateway runs. "
        "At most 10 000 rows.",
    )
    parser.add_argument("query", help="the SQL query")
    parser.add_argument("--json", action="store_true", help="print {columns, rows} as JSON")
    parser.add_argument("--gateway", default=None, help="URL of a running gateway")
    parser.add_argument("--token", default=None, help="admin token (default: <data>/admin.token)")
    add_common_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the query and print the result."""
    settings = settings_from_args(args)
    try:
        client = gateway_client(settings, args.gateway, args.token)
        if client is not None:
            result = client.call("POST", "/v1/admin/sql", {"query": args.query})
        else:
            result = on_data_dir_storage(settings, lambda storage: readonly_query_sync(storage, args.query))
    except AdminError as exc:
        print(f"tracegate sql: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # the query's own error (syntax, unknown table): the operator wrote it
        print(f"tracegate sql: {str(exc).splitlines()[0][:500]}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print("\t".join(result["columns"]))
    for row in result["rows"]:
        print("\t".join("" if v is None else str(v) for v in row))
    return 0

"""`tracegate sql QUERY`: read-only SQL on the gateway's ClickHouse (through the running gateway if any)."""

from __future__ import annotations

import argparse
import csv
import json
import re
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
        "At most 10 000 rows. A trailing FORMAT clause picks the output: "
        f"{', '.join(FORMATS)} (default TabSeparatedWithNames).",
    )
    parser.add_argument("query", help="the SQL query")
    parser.add_argument("--json", action="store_true", help="print {columns, rows} as JSON")
    parser.add_argument("--gateway", default=None, help="URL of a running gateway")
    parser.add_argument("--token", default=None, help="admin token (default: <data>/admin.token)")
    add_common_options(parser)
    parser.set_defaults(func=run)


# What a trailing FORMAT clause may ask for: the query runs without it (results come back as rows), and the
# rows are written here in that format.
FORMATS = ("TabSeparated", "TSV", "TabSeparatedWithNames", "TSVWithNames", "CSV", "CSVWithNames", "JSON",
           "JSONEachRow")
_FORMAT = re.compile(r"\s+FORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE)


def split_format(query: str) -> tuple[str, str]:
    """(the query without its trailing FORMAT clause, the format asked for); ValueError if unknown."""
    match = _FORMAT.search(query)
    if match is None:
        return query, "TabSeparatedWithNames"
    asked = next((f for f in FORMATS if f.lower() == match.group(1).lower()), None)
    if asked is None:
        raise ValueError(f"FORMAT {match.group(1)} is not offered here; use one of {', '.join(FORMATS)}")
    return query[: match.start()], asked


def write(result: dict[str, Any], fmt: str) -> None:
    """Print {columns, rows} in a ClickHouse output format."""
    columns, rows = result["columns"], result["rows"]
    if fmt == "JSON":
        print(json.dumps({"meta": [{"name": c} for c in columns], "data": [dict(zip(columns, r, strict=True))
                                                                           for r in rows], "rows": len(rows)},
                         ensure_ascii=False))
        return
    if fmt == "JSONEachRow":
        for row in rows:
            print(json.dumps(dict(zip(columns, row, strict=True)), ensure_ascii=False))
        return
    named = fmt.endswith("WithNames")
    if fmt.startswith("CSV"):
        writer = csv.writer(sys.stdout, lineterminator="\n")
        if named:
            writer.writerow(columns)
        writer.writerows([["" if v is None else v for v in row] for row in rows])
        return
    if named:
        print("\t".join(columns))
    for row in rows:
        print("\t".join("" if v is None else str(v) for v in row))


def run(args: argparse.Namespace) -> int:
    """Run the query and print the result."""
    settings = settings_from_args(args)
    try:
        query, fmt = split_format(args.query)
        client = gateway_client(settings, args.gateway, args.token)
        if client is not None:
            result = client.call("POST", "/v1/admin/sql", {"query": query})
        else:
            result = on_data_dir_storage(settings, lambda storage: readonly_query_sync(storage, query))
    except AdminError as exc:
        print(f"tracegate sql: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # the query's own error (syntax, unknown table): the operator wrote it
        print(f"tracegate sql: {str(exc).splitlines()[0][:500]}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    write(result, fmt)
    return 0

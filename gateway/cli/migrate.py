"""`tracegate migrate`: create the database and apply the numbered schema migrations not applied yet."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gateway.cli.main import add_common_options, settings_from_args
from gateway.service import running_gateway_url
from gateway.storage.client import Storage
from gateway.storage.errors import classify
from gateway.storage.migrations import apply_migrations, render_schema_text
from gateway.storage.table_engine import topology_for


def register(sub: Any) -> None:
    """Add the migrate subcommand."""
    parser = sub.add_parser(
        "migrate",
        help="create or upgrade the ClickHouse schema",
        description="Create the database and apply every schema migration not applied yet (forward only; "
        "safe to run again). The gateway also does this when it starts, so you only need this command to "
        "prepare a ClickHouse server before the first start, or to upgrade it separately.",
    )
    add_common_options(parser)
    parser.add_argument(
        "--cluster", default=None, metavar="NAME",
        help="render for the ClickHouse cluster NAME (remote_servers): Replicated* <table>_local tables and "
        "Distributed <table> tables sharded by cityHash64(device_id), all ON CLUSTER (env TRACEGATE_CLUSTER; "
        "default: one node)",
    )
    parser.add_argument(
        "--print-ddl", action="store_true",
        help="print every statement of the schema for this topology and exit (touches no storage)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Apply migrations and print what was applied."""
    settings = settings_from_args(args)
    topology = topology_for(settings.cluster)
    if args.print_ddl:
        print(render_schema_text(settings.database, topology), end="")
        return 0
    if settings.cluster and settings.embedded:
        print("tracegate migrate: --cluster needs a ClickHouse server URL (--storage-url http://…)",
              file=sys.stderr)
        return 2
    if settings.embedded:
        url = running_gateway_url(settings)
        if url:
            print(
                f"tracegate migrate: a gateway is running on {settings.data_dir} ({url}) and owns its "
                "embedded ClickHouse; it applied the migrations when it started. Stop it first if you "
                "really need to run this command.",
                file=sys.stderr,
            )
            return 1
    try:
        storage = Storage.open(settings)
    except Exception as exc:
        failure = classify(exc)
        print(f"tracegate migrate: cannot open storage ({failure.name}): {failure.user_message}",
              file=sys.stderr)
        return 1
    try:
        applied = storage.run_sync(
            lambda client: apply_migrations(client, storage.database, topology=topology)
        )
    except Exception as exc:
        failure = classify(exc)
        print(f"tracegate migrate: failed ({failure.name}): {failure.user_message}", file=sys.stderr)
        return 1
    finally:
        storage.close()
    if applied:
        for migration_id in applied:
            print(f"applied {migration_id}")
    else:
        print(f"schema of {storage.database} is up to date")
    return 0

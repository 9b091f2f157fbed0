"""`tracegate quarantine list|replay`: records the shipper set aside, and putting them in after a fix.

The shipper sets a record aside (gateway/shipping/quarantine.py) when its rows cannot be built; the rest of
the journal keeps shipping. `list` shows what is there and why (it only reads files: a gateway may run).
`replay` builds each record's rows with the code installed now and inserts them under tokens of the
record's own, so running it twice (or again after a crash) inserts nothing twice; a file is removed only
after ClickHouse confirmed every table's insert. It runs with the gateway stopped: the gateway owns the
journal, its checkpoint and, embedded, the ClickHouse directory.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from gateway.cli.admin_client import on_data_dir
from gateway.cli.main import add_common_options, settings_from_args
from gateway.ingest.journal import ID_FILE
from gateway.security.pii_keys import load_key_ring
from gateway.service import running_gateway_url
from gateway.settings import Settings
from gateway.shipping.checkpoint import CHECKPOINT_NAME, load_checkpoint
from gateway.shipping.quarantine import (
    DIRECTORY_NAME,
    Quarantine,
    QuarantinedRecord,
    batch_confirmed,
    replay_entry,
)


def register(subparsers: Any) -> None:
    """Add `quarantine list` and `quarantine replay`."""
    parser = subparsers.add_parser(
        "quarantine", help="journal records the shipper set aside (rows could not be built): list, replay",
        description="A journal record whose rows cannot be built (a bug, a schema drift after an upgrade) "
        "is set aside in <data>/journal/quarantine/ so the rest of the journal keeps shipping; /healthz "
        "says \"degraded\" while any is there. List them, fix the cause (upgrade): the gateway retries "
        "them when it starts, or replay them by hand.",
    )
    sub = parser.add_subparsers(dest="quarantine_command", metavar="QUARANTINE_COMMAND")
    parser.set_defaults(func=lambda _args: parser.print_help() or 2)

    listing = sub.add_parser(
        "list", help="show the set-aside records: journal position, device and seq, when, and the error",
        description="Show every record in the quarantine, oldest journal position first. Only reads "
        "files, so it works while the gateway runs.",
    )
    add_common_options(listing)
    listing.add_argument("--json", action="store_true", help="one JSON object per record (without its bytes)")
    listing.set_defaults(func=_run_list)

    replay = sub.add_parser(
        "replay", help="after a fix: build the records' rows and insert them, idempotently (gateway stopped)",
        description="Build each quarantined record's rows with the code installed now and insert them into "
        "storage. Each insert carries a deduplication token of the record's own, so replaying twice "
        "inserts once; a record's file is removed only after every insert was confirmed. A record that "
        "still fails stays, with its error printed. Run it with the gateway stopped (it refuses otherwise): "
        "the gateway owns the journal and, embedded, the ClickHouse directory. Exit 0 when every selected "
        "record was replayed, 1 otherwise.",
    )
    add_common_options(replay)
    replay.add_argument(
        "--position", type=int, action="append", default=None, metavar="N",
        help="replay only the record at this journal position (repeatable; default: all)",
    )
    replay.set_defaults(func=_run_replay)


def _quarantine(settings: Settings) -> Quarantine:
    return Quarantine(settings.journal_dir / DIRECTORY_NAME)


def _when(entry: QuarantinedRecord) -> str:
    return datetime.fromtimestamp(entry.quarantined_at_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _run_list(args: argparse.Namespace) -> int:
    """Print the quarantine; exit 0."""
    entries = _quarantine(settings_from_args(args)).entries()
    for entry in entries:
        if args.json:
            fields = {k: v for k, v in vars(entry).items() if k != "record"}
            print(json.dumps(fields | {"record_bytes": len(entry.record)}))
        else:
            print(f"position {entry.position}  {_when(entry)}  {entry.reason}")
    if not args.json:
        print(f"{len(entries)} record(s) in quarantine")
    return 0


def replay_quarantine(
    settings: Settings, client: Any, database: str, positions: list[int] | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Insert the selected quarantined records' rows, removing each file after its inserts; records left."""
    quarantine = _quarantine(settings)
    shipped = load_checkpoint(settings.journal_dir / CHECKPOINT_NAME, start=0).shipped
    id_file = settings.journal_dir / ID_FILE
    journal_id = id_file.read_text().strip() if id_file.exists() else ""
    pii = load_key_ring(settings)
    left = 0
    for entry in quarantine.entries():
        if positions and entry.position not in positions:
            continue
        if not batch_confirmed(entry, journal_id, shipped):
            out.write(f"position {entry.position}: its batch is not shipped yet; start the gateway, let it "
                      "catch up, stop it and replay again\n")
            left += 1
            continue
        why = replay_entry(entry, client, database, pii)
        if why is not None:
            out.write(f"position {entry.position}: {why}; it stays in quarantine\n")
            left += 1
            continue
        quarantine.remove(entry.position)
        out.write(f"position {entry.position}: replayed ({entry.device_id} seq {entry.seq})\n")
    return left


def _run_replay(args: argparse.Namespace) -> int:
    """Replay the quarantine into storage (gateway stopped); exit 0 when nothing selected is left."""
    settings = settings_from_args(args)
    url = running_gateway_url(settings)
    if url:
        print(f"tracegate quarantine replay: a gateway serves {settings.data_dir} at {url}; stop it, replay, "
              "then start it again", file=sys.stderr)
        return 1
    if not _quarantine(settings).positions:
        print("quarantine is empty: nothing to replay")
        return 0
    left = on_data_dir(settings, lambda client, database: replay_quarantine(
        settings, client, database, args.position))
    print(f"{left} record(s) left in quarantine")
    return 1 if left else 0

"""`tracegate codes import FILE`: load the operator's registry of emitted codes, streaming and idempotently.

Rows go in chunks, each with a deterministic dedup token (its content and the import's version), into
code_registry (ReplacingMergeTree by cis): a chunk resent after a failure is inserted once, and importing
the file again leaves one row per code. With a gateway serving the data directory (or --gateway), chunks
go through POST /v1/admin/codes/import, which also updates the gateway's in-memory status index; with none,
rows are written straight into storage (audited as local:<OS user>) and the next gateway start loads them.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from gateway.cli.admin_client import AdminError, admin_token
from gateway.cli.codes import codes_subparsers
from gateway.cli.main import add_common_options, settings_from_args
from gateway.codes.registry_file import RegistryRow, RegistryRowError, read_registry
from gateway.security import audit
from gateway.service import running_gateway_url
from gateway.settings import Settings

Sink = Callable[[list[RegistryRow]], None]
_SHOWN_ERRORS = 20
_RETRIES = 5


def register(subparsers: Any) -> None:
    """Add `codes import`."""
    sub = codes_subparsers(subparsers)
    parser = sub.add_parser(
        "import", help="load the operator's registry of emitted codes (CSV or JSON lines) into code_registry",
        description="Read a CSV file (header: code or cis, gtin, owner_tin, product_group, status, "
        "expires_on) or JSON lines with the same keys, streaming, and load it into code_registry "
        "idempotently (running it again changes nothing). Through the running gateway when there is one "
        "(its status index is updated at once), else straight into storage.",
    )
    parser.add_argument("file", type=Path, help="registry file, or - for stdin")
    add_common_options(parser)
    parser.add_argument("--gateway", default=None, help="gateway URL (default: the one serving --data)")
    parser.add_argument("--token", default=None, help="admin token (default: <data>/admin.token)")
    parser.add_argument("--chunk-rows", type=int, default=10_000, help="rows per insert (default 10000)")
    parser.set_defaults(func=run_import)


class Progress:
    """A progress bar on stderr: bytes read of the file, rows, rows a second (plain lines when not a tty)."""

    def __init__(self, total_bytes: int, stream: TextIO = sys.stderr) -> None:
        self.total = total_bytes
        self.stream = stream
        self.started = time.monotonic()
        self._shown = 0.0
        self._tty = stream.isatty()

    def update(self, done_bytes: int, rows: int, final: bool = False) -> None:
        """Redraw (at most 5 times a second on a tty, every 2 s otherwise, and at the end)."""
        now = time.monotonic()
        if not final and now - self._shown < (0.2 if self._tty else 2.0):
            return
        self._shown = now
        rate = rows / max(now - self.started, 1e-9)
        share = min(done_bytes / self.total, 1.0) if self.total else (1.0 if final else 0.0)
        bar = "#" * int(share * 30)
        text = f"importing [{bar:<30}] {share:4.0%} {rows:,} rows, {rate:,.0f} rows/s"
        if self._tty:
            self.stream.write("\r" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def gateway_sink(url: str, token: str, version: int) -> Sink:
    """Send each chunk to the gateway's import endpoint; a failed chunk is resent as is (same token)."""

    def send(rows: list[RegistryRow]) -> None:
        body = "".join(json.dumps(row.to_json()) + "\n" for row in rows).encode()
        request = urllib.request.Request(url.rstrip("/") + "/v1/admin/codes/import", data=body, method="POST")
        request.add_header("Authorization", f"Bearer {token}")
        request.add_header("Content-Type", "application/x-ndjson")
        request.add_header("X-Import-Version", str(version))
        for attempt in range(_RETRIES):
            try:
                with urllib.request.urlopen(request, timeout=300) as response:
                    answer = json.loads(response.read())
                if answer.get("rejected_count"):
                    raise AdminError(f"the gateway rejected rows: {answer['rejected'][:3]}")
                return
            except urllib.error.HTTPError as exc:
                text = exc.read().decode(errors="replace")
                if exc.code < 500 or attempt == _RETRIES - 1:
                    raise AdminError(f"HTTP {exc.code}: {text}") from None
            except (urllib.error.URLError, OSError) as exc:
                if attempt == _RETRIES - 1:
                    raise AdminError(f"cannot reach the gateway at {url}: {exc}") from None
            time.sleep(0.5 * 2**attempt)

    return send


class StorageSink:
    """Chunks inserted straight into storage (no gateway runs on this data directory)."""

    def __init__(self, settings: Settings, version: int) -> None:
        from gateway.storage.client import Storage
        from gateway.storage.migrations import ensure_schema

        self.storage = Storage.open(settings)
        self.version = version
        self.gateway_id = settings.gateway_id
        self.storage.run_sync(lambda c: ensure_schema(c, self.storage.database, settings.cluster))

    def __call__(self, rows: list[RegistryRow]) -> None:
        from gateway.storage.code_registry_store import insert_registry_rows

        self.storage.run_sync(lambda c: insert_registry_rows(c, self.storage.database, rows, self.version))

    def audit(self, imported: int, rejected: int) -> None:
        """The audit row a gateway writes for an import, here naming the operating-system user."""
        row = [int(time.time() * 1000), f"{audit.LOCAL_PREFIX}{getpass.getuser()}", audit.REGISTRY_IMPORTED,
               f"import {self.version}", f"{imported} rows, {rejected} rejected", "local", self.gateway_id]
        self.storage.run_sync(lambda c: audit.insert_row(c, self.storage.database, row))

    def close(self) -> None:
        """Close the storage client."""
        self.storage.close()


def import_stream(source: BinaryIO, send: Sink, chunk_rows: int, progress: Progress | None,
                  errors: TextIO = sys.stderr) -> tuple[int, int]:
    """Stream rows from source to send in chunks; returns (imported, rejected). Bad rows are reported."""
    imported = rejected = 0
    chunk: list[RegistryRow] = []

    def position() -> int:
        try:
            return source.tell()
        except (OSError, ValueError):
            return 0

    for item in read_registry(source):
        if isinstance(item, RegistryRowError):
            rejected += 1
            if rejected <= _SHOWN_ERRORS:
                errors.write(f"skipped {item}\n")
            continue
        chunk.append(item)
        if len(chunk) >= chunk_rows:
            send(chunk)
            imported += len(chunk)
            chunk = []
            if progress:
                progress.update(position(), imported)
    if chunk:
        send(chunk)
        imported += len(chunk)
    if progress:
        progress.update(progress.total, imported, final=True)
    return imported, rejected


def run_import(args: argparse.Namespace) -> int:
    """Import the file; exit 0 if every row was imported, 1 if some were skipped or it failed."""
    settings = settings_from_args(args)
    version = time.time_ns() // 1_000_000  # the newest import wins in ReplacingMergeTree(version)
    url = args.gateway or running_gateway_url(settings)
    direct: StorageSink | None = None
    try:
        if url:
            send = gateway_sink(url, admin_token(settings, args.token), version)
            where = f"through the gateway at {url}"
        else:
            send = direct = StorageSink(settings, version)
            where = f"into storage {settings.resolved_storage_url.split('@')[-1]} (no gateway runs)"
        source = sys.stdin.buffer if str(args.file) == "-" else args.file.open("rb")
        total = 0 if str(args.file) == "-" else args.file.stat().st_size
        with source:
            imported, rejected = import_stream(source, send, max(1, args.chunk_rows), Progress(total))
        if direct is not None:  # through a gateway, the gateway writes the audit row
            direct.audit(imported, rejected)
    except (AdminError, OSError) as exc:
        print(f"tracegate codes import: {exc}", file=sys.stderr)
        return 1
    finally:
        if direct is not None:
            direct.close()
    print(f"imported {imported} codes {where}; skipped {rejected} bad rows")
    return 1 if rejected else 0

"""`tracegate export` and `tracegate verify`: a register's whole history in one signed file, and its check.

export asks the running gateway of --data (GET /v1/export, with the admin token or --token), or reads the
data directory itself when no gateway runs; it streams to a file with a progress bar, keeps it only once
it is complete (named .partial until then), and gzips it when the name ends in .gz. verify needs neither:
it reads the file alone (gateway/export/verify.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import gzip
import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

from gateway.auth.tokens import ADMIN
from gateway.bench import export_bench
from gateway.cli.admin_client import AdminError, admin_token
from gateway.cli.main import add_common_options, settings_from_args
from gateway.errors import GatewayError
from gateway.export import verify
from gateway.export.format import SIGNATURE
from gateway.export.writer import ExportSigner
from gateway.query.export import export_chunks, parse_request, plan_export
from gateway.security import audit
from gateway.security.pii_keys import PiiKeyError, load_key_ring
from gateway.service import running_gateway_url
from gateway.settings import Settings
from gateway.storage.client import Storage
from gateway.storage.migrations import apply_migrations
from gateway.wire import signing

EXPORT_HELP = "a register's (or a seller's registers') whole history as one signed, verifiable file"
VERIFY_HELP = "check an export file alone: signatures, chain, seqs, keys, revocations, Z reports, manifest"


def register(sub: Any) -> None:
    """Add the export and verify subcommands."""
    export = sub.add_parser(
        "export",
        help=EXPORT_HELP,
        description=f"Write {EXPORT_HELP}: the signed envelopes as they arrived, the device's key history "
        "and declared gaps, and a manifest signed by the gateway's export key (docs/export.md). Buyer "
        "data stays sealed. Through the running gateway of --data (or --gateway), else from the data "
        "directory itself.",
    )
    export.add_argument(
        "--device", action="append", default=[], metavar="ID", help="a device to export (repeat, or ID,ID)"
    )
    export.add_argument(
        "--tin", default=None, help="every device of this seller (a retailer token implies it)"
    )
    export.add_argument("--from-seq", default=None, help="the first seq (default: 1)")
    export.add_argument("--to-seq", default=None, help="the last seq (default: the newest stored)")
    export.add_argument("--since", default=None, help="from the first event at or after this time (UTC, ISO)")
    export.add_argument("--until", default=None, help="to the last event before this time (UTC, ISO)")
    export.add_argument(
        "-o",
        "--output",
        default=None,
        metavar="FILE",
        help="where to write (.gz: compressed; -: standard output)",
    )
    export.add_argument(
        "--public-key",
        action="store_true",
        help="print the export key's public half (PEM) and id instead, to pin with verify",
    )
    export.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    add_common_options(export)
    export.add_argument("--gateway", default=None, help="URL of a running gateway")
    export.add_argument("--token", default=None, help="access token (default: <data>/admin.token)")
    export.set_defaults(func=run_export)
    checker = sub.add_parser(
        "verify",
        help=VERIFY_HELP,
        description=f"{VERIFY_HELP[0].upper()}{VERIFY_HELP[1:]}. Needs neither a gateway nor ClickHouse. "
        "One PASS/FAIL line per check; exit 0 all passed, 1 not authentic or incomplete, 2 unreadable or "
        "bad arguments, 3 authentic but the register's own sums do not add up.",
    )
    verify.add_arguments(checker)
    checker.set_defaults(func=verify.run)
    bench = sub.add_parser(
        "export-bench", help="measure verify (one core) on a year of a busy register, and an export's memory",
        description="Sign one register's history (shifts of 40-80 receipts, 5 %% naming a buyer), write its "
        "export, and run verify on one core against a ceiling measured in the same run (read, parse and hash "
        "every line) and with --every-signature; with --gateway-events, also ingest that many events into a "
        "fresh gateway and export them over HTTP while sampling the gateway's memory.",
    )
    bench.add_argument("--events", type=int, default=500_000, help="events of the history (500000)")
    bench.add_argument("--gateway-events", type=int, default=0,
                       help="also ingest this many into a fresh gateway and export them over HTTP (0: skip)")
    bench.add_argument("--workdir", type=Path, default=None,
                       help="keep the history and files here, and reuse a history signed there before")
    bench.add_argument("--json", action="store_true", help="print the figures as JSON")
    bench.set_defaults(func=run_bench)


class Progress:
    """A progress bar on standard error (when it is a terminal), and a summary line at the end."""

    def __init__(self, total: int, *, quiet: bool) -> None:
        self.total = max(total, 1)
        self.quiet = quiet
        self.bar = not quiet and sys.stderr.isatty()
        self.began = self.shown = time.monotonic()

    def update(self, events: int) -> None:
        """events written so far."""
        now = time.monotonic()
        if self.bar and now - self.shown >= 0.2:
            self.shown = now
            done = min(events / self.total, 1.0)
            rate = events / max(now - self.began, 1e-9)
            bar = "#" * int(done * 30)
            sys.stderr.write(
                f"\rexporting [{bar:<30}] {events:,}/{self.total:,} events {done:4.0%} {rate:,.0f}/s "
            )
            sys.stderr.flush()

    def finish(self, where: str, sink: _Sink) -> None:
        """The summary: what was written, and the sections whose newest events carry no signature yet."""
        if self.bar:
            sys.stderr.write("\n")
        if self.quiet:
            return
        took = time.monotonic() - self.began
        proofs = f" (and {sink.proofs:,} proof records after the range)" if sink.proofs else ""
        print(
            f"wrote {where}: {sink.events:,} events{proofs}, {sink.size / 1e6:.1f} MB in {took:.1f} s",
            file=sys.stderr,
        )
        for device_id, seq in sink.unsigned_ends:
            print(
                f"note: {device_id}: its newest events (to seq {seq}) carry no signature yet (the one that "
                "will cover them has not reached storage): verify reports them as attested by the gateway",
                file=sys.stderr,
            )


class _Sink:
    """The output: a file written as <name>.partial and renamed once complete, gzip for .gz, or stdout.

    It reads each line's record kind as it passes (the lines begin with it: format.line), for the progress
    bar and the summary.
    """

    _EVENT, _PROOF = b'{"record":"event"', b'{"record":"proof"'
    _SECTION_ENDS = (b'{"record":"device"', b'{"record":"manifest"')

    def __init__(self, output: str) -> None:
        self.size = self.events = self.proofs = 0
        self.unsigned_ends: list[tuple[str, int]] = []  # (device, seq) of sections ending without a signature
        self._line = b""  # the line being received
        self._last_line = b""  # the last complete line
        self._last_record = b""  # the section's last event or proof line
        self.path: Path | None = None
        if output == "-":
            self.stream: BinaryIO = sys.stdout.buffer
            return
        self.path = Path(output)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self._raw: BinaryIO = open(self.partial, "wb")  # noqa: SIM115 (closed in close())
        self.stream = self._raw
        if output.endswith(".gz"):
            self.stream = gzip.GzipFile(fileobj=self._raw, mode="wb")  # type: ignore[assignment]

    def write(self, chunk: bytes) -> None:
        """Write a chunk."""
        self.stream.write(chunk)
        self.size += len(chunk)
        lines = (self._line + chunk).split(b"\n")
        self._line = lines.pop()
        for line in lines:
            self._read(line)
        if lines:
            self._last_line = lines[-1]

    def _read(self, line: bytes) -> None:
        if line.startswith(self._EVENT):
            self.events += 1
            self._last_record = line
        elif line.startswith(self._PROOF):
            self.proofs += 1
            self._last_record = line
        elif line.startswith(self._SECTION_ENDS):
            # The writer ends a section unsigned only when no signed event follows yet (docs/export.md).
            if self._last_record:
                last = json.loads(self._last_record)
                if not last.get("signature"):
                    self.unsigned_ends.append((str(last.get("device_id")), int(last.get("seq") or 0)))
            self._last_record = b""

    def complete(self) -> bool:
        """Whether the last line is the signature that closes an export."""
        try:
            return not self._line and bool(json.loads(self._last_line).get("record") == SIGNATURE)
        except ValueError:
            return False

    def close(self, keep: bool) -> None:
        """Flush and, for a file, rename it into place (keep) or remove the partial file."""
        if self.path is None:
            self.stream.flush()
            return
        self.stream.close()
        if self.stream is not self._raw:
            self._raw.close()
        if keep:
            os.replace(self.partial, self.path)
        else:
            self.partial.unlink(missing_ok=True)


def run_bench(args: argparse.Namespace) -> int:
    """Run the export benchmark in a temporary directory and print its figures."""
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        figures = export_bench.run_export_bench(args.events, args.workdir, args.gateway_events)
    else:
        with tempfile.TemporaryDirectory(prefix="tracegate-export-bench-") as workdir:
            figures = export_bench.run_export_bench(args.events, Path(workdir), args.gateway_events)
    print(json.dumps(dataclasses.asdict(figures)) if args.json else export_bench.report_text(figures))
    return 0


def _fail(message: str) -> int:
    print(f"tracegate export: {message}", file=sys.stderr)
    return 1


def run_export(args: argparse.Namespace) -> int:
    """Export to --output (or print the export key with --public-key)."""
    settings = settings_from_args(args)
    url = args.gateway or running_gateway_url(settings)
    if args.public_key:
        return _print_key(settings, url)
    if not args.output:
        return _fail("say where to write: -o FILE (or -o - for standard output)")
    try:
        query = {
            "device": args.device,
            "tin": args.tin,
            "from_seq": args.from_seq,
            "to_seq": args.to_seq,
            "since": args.since,
            "until": args.until,
        }
        parse_request({k: v for k, v in query.items() if isinstance(v, str)}, args.device)  # fail early
        if url is not None:
            return _through_gateway(url, admin_token(settings, args.token), query, args)
        return _from_data_dir(settings, query, args)
    except (AdminError, GatewayError) as exc:
        return _fail(str(exc))


def _write(chunks: Iterable[bytes], total: int, args: argparse.Namespace) -> int:
    sink = _Sink(args.output)
    progress = Progress(total, quiet=args.quiet)
    try:
        for chunk in chunks:
            sink.write(chunk)
            progress.update(sink.events)
    except (OSError, urllib.error.URLError) as exc:
        sink.close(keep=False)
        return _fail(f"the export stopped half-way: {exc}")
    complete = sink.complete()
    sink.close(keep=complete)
    if not complete:
        return _fail("the export stopped half-way (the gateway's log says why); nothing was kept")
    progress.finish(args.output, sink)
    return 0


def _through_gateway(url: str, token: str, query: dict[str, Any], args: argparse.Namespace) -> int:
    params = urllib.parse.urlencode({k: v for k, v in query.items() if v not in (None, "", [])}, doseq=True)
    request = urllib.request.Request(f"{url.rstrip('/')}/v1/export?{params}")
    request.add_header("Authorization", f"Bearer {token}")
    try:
        response = urllib.request.urlopen(request, timeout=300)
    except urllib.error.HTTPError as exc:
        try:
            err = json.loads(exc.read())
            return _fail(f"{err.get('error')}: {err.get('detail')}")
        except ValueError:
            return _fail(f"HTTP {exc.code}")
    except (urllib.error.URLError, OSError) as exc:
        return _fail(f"cannot reach the gateway at {url}: {exc}")
    with response:
        total = int(response.headers.get("X-Export-Events") or 0)
        return _write(iter(lambda: response.read(1 << 20), b""), total, args)


def _from_data_dir(settings: Settings, query: dict[str, Any], args: argparse.Namespace) -> int:
    """No gateway runs on --data: read the directory here, as the admin of the machine."""
    wanted = parse_request({k: v for k, v in query.items() if isinstance(v, str)}, args.device)
    storage = Storage.open(settings)
    try:
        db = storage.database
        storage.run_sync(lambda c: apply_migrations(c, db))
        plans = storage.run_sync(lambda c: plan_export(c, db, ADMIN, wanted))
        try:
            ring = load_key_ring(settings, create=False)
        except PiiKeyError:
            ring = None  # sealed events are exported with their stored hash only
        who = f"{audit.LOCAL_PREFIX}{getpass.getuser()}"
        names = ",".join(p.entry.device_id for p in plans)[:256]
        events = sum(p.events for p in plans)
        row = [
            int(time.time() * 1000),
            who,
            audit.EXPORTED,
            names,
            f"{len(plans)} device(s), {events} events",
            "",
            settings.gateway_id,
        ]
        storage.run_sync(lambda c: audit.insert_row(c, db, row))
        chunks = export_chunks(
            storage.run_sync,
            db,
            plans,
            signer=ExportSigner.load_or_create(settings.export_key_file),
            gateway_id=settings.gateway_id,
            exported_by={"principal": who, "scope": "admin"},
            request=wanted,
            ring=ring,
        )
        return _write(chunks, events, args)
    finally:
        storage.close()


def _print_key(settings: Settings, url: str | None) -> int:
    if url is not None:
        try:
            with urllib.request.urlopen(f"{url.rstrip('/')}/v1/export/key", timeout=30) as response:
                answer = json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            return _fail(f"cannot read the export key from {url}: {exc}")
        key_id, pem = answer["key_id"], answer["public_key_pem"]
    else:
        signer = ExportSigner.load_or_create(settings.export_key_file)
        key_id = signer.key_id
        pem = signing.public_key_pem(signing.load_public_key_point(signer.public_key))
    print(
        f"export key {key_id}: save this PEM and pin it with tracegate verify --export-key FILE",
        file=sys.stderr,
    )
    print(pem, end="")
    return 0

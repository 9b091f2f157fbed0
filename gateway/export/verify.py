"""`tracegate verify FILE`: check an audit export alone, offline, without the gateway or ClickHouse.

Reads the file once, line by line (memory does not grow with its size), checks each device's section
(device_check.py) and the manifest and its signature, and prints one PASS/FAIL line per check, NOTEs,
and a verdict; the exit status says whether the file is authentic and complete (report.py).
Also runs as `python -m gateway.export.verify`, which imports nothing of the gateway's server side.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gzip
import hashlib
import json
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from gateway.export.device_check import DeviceCheck
from gateway.export.format import (
    DEVICE,
    EVENT,
    FORMAT,
    HEADER,
    MANIFEST,
    PROOF,
    SIGNATURE,
    VERSION,
    FormatError,
    unb64,
    unhex,
    verify_manifest_signature,
)
from gateway.export.records import DeviceEntry, DeviceTotals, EventEntry, ProofEntry
from gateway.export.report import EXIT_USAGE, EXPORT_SCOPE, Report
from gateway.wire import signing

FILE, MANIFEST_CHECK = "file", "manifest"
_TOTALS = tuple(f.name for f in dataclasses.fields(DeviceTotals) if f.name != "device_id")
_GZIP_MAGIC = b"\x1f\x8b"


class _Reader:
    """The state of one pass over a file."""

    def __init__(self, report: Report, every_signature: bool, pinned: str | bytes | None) -> None:
        self.report = report
        self.every_signature = every_signature
        self.pinned = pinned
        self.digest = hashlib.sha256()
        self.line_no = 0
        self.header: dict[str, Any] | None = None
        self.device: DeviceCheck | None = None
        self.totals: list[DeviceTotals] = []
        self.seen: set[str] = set()
        self.events = 0
        self.proofs = 0
        self.manifest: tuple[bytes, dict[str, Any]] | None = None
        self.lines_before_manifest = 0
        self.signed = False

    def fail(self, detail: str) -> None:
        self.report.fail(EXPORT_SCOPE, FILE, f"line {self.line_no}: {detail}")

    def read(self, lines: Iterable[bytes]) -> None:
        for raw in lines:
            self.line_no += 1
            if not raw.endswith(b"\n"):
                self.fail("cut off (no newline at the end): the file is truncated")
                break
            try:
                record = json.loads(raw)
            except ValueError:
                record = None
            kind = record.get("record") if isinstance(record, dict) else None
            if self.manifest is None and kind != MANIFEST:
                self.digest.update(raw)
            if not isinstance(record, dict):
                self.fail("is not a JSON object")
                continue
            if not self.dispatch(kind, record, raw):
                return
        self.end()

    def dispatch(self, kind: Any, record: dict[str, Any], raw: bytes) -> bool:
        """Handle one record; False stops reading (the file is not one this verifier can read)."""
        if self.header is None:
            return self.on_header(kind, record)
        if self.signed:
            self.fail(f"a {kind} record after the signature line")
        elif self.manifest is not None:
            self.on_signature(kind, record)
        elif kind == EVENT:
            self.on_event(record)
        elif kind == PROOF:
            self.on_proof(record)
        elif kind == DEVICE:
            self.on_device(record)
        elif kind == MANIFEST:
            self.close_device()
            self.manifest, self.lines_before_manifest = (raw, record), self.line_no - 1
        else:
            self.fail(f"unknown record {kind!r}")
        return True

    def on_header(self, kind: Any, record: dict[str, Any]) -> bool:
        if kind != HEADER or record.get("format") != FORMAT:
            self.fail(f"not a {FORMAT} file (its first line is no header of this format)")
            return False
        if record.get("version") != VERSION:
            self.fail(f"format version {record.get('version')!r}: this verifier reads version {VERSION}")
            return False
        self.header = record
        return True

    def on_device(self, record: dict[str, Any]) -> None:
        self.close_device()
        try:
            device = DeviceEntry.from_json(record)
        except FormatError as exc:
            self.fail(str(exc))
            return
        if device.device_id in self.seen:
            self.fail(f"device {device.device_id} has a second section")
        self.seen.add(device.device_id)
        self.device = DeviceCheck(device, self.report, every_signature=self.every_signature)

    def on_event(self, record: dict[str, Any]) -> None:
        self.events += 1
        try:
            entry = EventEntry.from_json(record)
        except FormatError as exc:
            self.fail(str(exc))
            return
        if self.device is None:
            self.fail(f"an event of {entry.device_id} before any device record")
        elif entry.device_id != self.device.device.device_id:
            self.fail(
                f"an event of device {entry.device_id} (seq {entry.seq}) inside the section of device "
                f"{self.device.device.device_id}: spliced in from another export?"
            )
        elif self.device.proofs:
            self.fail(f"an event (seq {entry.seq}) after the proof records of its section")
        else:
            self.device.add(entry)

    def on_proof(self, record: dict[str, Any]) -> None:
        self.proofs += 1
        try:
            entry = ProofEntry.from_json(record)
        except FormatError as exc:
            self.fail(str(exc))
            return
        if self.device is None or entry.device_id != self.device.device.device_id:
            self.fail(f"a proof record of device {entry.device_id} (seq {entry.seq}) outside its section")
        elif self.device.proof_signed:
            self.fail(f"a proof record (seq {entry.seq}) after the signed one that ends the proof")
        else:
            self.device.add_proof(entry)

    def close_device(self) -> None:
        if self.device is not None:
            self.device.close()
            self.totals.append(self.device.totals())
            self.report.events += self.device.events
            self.report.proof_events += self.device.proofs
            self.device = None

    def on_signature(self, kind: Any, record: dict[str, Any]) -> None:
        self.signed = True
        if kind != SIGNATURE:
            self.report.fail(
                EXPORT_SCOPE,
                MANIFEST_CHECK,
                f"line {self.line_no}: a {kind} record where the manifest's signature belongs",
            )
            return
        assert self.manifest is not None
        check_manifest(self, *self.manifest, record)

    def end(self) -> None:
        self.close_device()
        self.report.devices = len(self.totals)
        if self.header is None:
            self.report.fail(EXPORT_SCOPE, FILE, "the file is empty")
        elif self.manifest is None:
            self.report.fail(
                EXPORT_SCOPE,
                FILE,
                f"the file ends after line {self.line_no} without its "
                "manifest: it is truncated, or was not written to the end",
            )
        elif not self.signed:
            self.report.fail(EXPORT_SCOPE, MANIFEST_CHECK, "the manifest has no signature line after it")
        self.report.conclude(
            EXPORT_SCOPE,
            FILE,
            f"{FORMAT} v{VERSION}: {self.line_no} lines read to the end, "
            f"{len(self.totals)} device section(s); {_origin(self.header)}",
        )
        if self.manifest is not None:
            self.report.conclude(EXPORT_SCOPE, MANIFEST_CHECK, _manifest_passed(self.manifest[1]))


def _origin(header: dict[str, Any] | None) -> str:
    if header is None:
        return "no header"
    who = header.get("exported_by") or {}
    when = _when(header.get("created_ms"))
    by = f"{who.get('principal', '?')} ({who.get('scope', '?')})"
    return f"exported by {by} from {header.get('gateway_id')} {when}"


def _when(ms: Any) -> str:
    if not isinstance(ms, int):
        return "at an unknown time"
    return "on " + dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _manifest_passed(manifest: dict[str, Any]) -> str:
    key = manifest.get("export_key") or {}
    return (
        f"signed by export key {key.get('key_id')} of gateway {manifest.get('gateway_id')}; the file's "
        "digest, "
        f"{manifest.get('lines')} lines, {manifest.get('events')} events, {manifest.get('proof_events')} "
        "proof records and every device's first and last seq and hash agree with it"
    )


def check_manifest(reader: _Reader, raw: bytes, manifest: dict[str, Any], signature: dict[str, Any]) -> None:
    """The manifest against what was read, and the export key's signature over it."""
    report = reader.report

    def fail(detail: str) -> None:
        report.fail(EXPORT_SCOPE, MANIFEST_CHECK, detail)

    try:
        key = manifest["export_key"]
        public = unhex(key["public_key"], "export_key.public_key", 65)
        sig = unb64(signature.get("signature"), "signature")
        listed = [DeviceTotals.from_json(d) for d in manifest["devices"]]
    except (FormatError, KeyError, TypeError) as exc:
        fail(f"malformed: {exc}")
        return
    key_id = signing.key_id_of(signing.load_public_key_point(public)) if _is_point(public) else ""
    if not verify_manifest_signature(public, raw, sig) or signature.get("key_id") != key_id:
        fail(
            "the signature does not verify over the manifest under its export key: the manifest was "
            "changed after export, or signed by someone else"
        )
    if reader.pinned is not None and reader.pinned not in (key_id, public):
        fail(f"signed by export key {key_id}, not by the key you trust (--export-key)")
    elif reader.pinned is None:
        report.note(
            EXPORT_SCOPE,
            MANIFEST_CHECK,
            f"export key {key_id} is the file's own claim: pass "
            "--export-key with the key your gateway publishes (GET /v1/export/key) to check whose it is",
        )
    header = reader.header or {}
    for name in ("created_ms", "gateway_id", "exported_by"):
        if manifest.get(name) != header.get(name):
            fail(f"the manifest's {name} is not the header's: {manifest.get(name)!r}, {header.get(name)!r}")
    if manifest.get("body_sha256") != reader.digest.hexdigest():
        fail(
            "the file's digest differs from the manifest's body_sha256: lines before the manifest were "
            "changed, added or removed after export"
        )
    if manifest.get("lines") != reader.lines_before_manifest:
        fail(
            f"the manifest counts {manifest.get('lines')} lines before it, the file holds "
            f"{reader.lines_before_manifest}"
        )
    if manifest.get("events") != reader.events:
        fail(f"the manifest counts {manifest.get('events')} events, the file holds {reader.events}")
    if manifest.get("proof_events") != reader.proofs:
        fail(
            f"the manifest counts {manifest.get('proof_events')} proof records, the file holds "
            f"{reader.proofs}"
        )
    _compare_devices(listed, reader.totals, fail)


def _compare_devices(listed: list[DeviceTotals], held: list[DeviceTotals], fail: Any) -> None:
    held_by_id = {t.device_id: t for t in held}
    if [t.device_id for t in listed] != [t.device_id for t in held]:
        fail(
            f"the manifest lists devices {[t.device_id for t in listed]}, the file holds "
            f"{[t.device_id for t in held]}"
        )
    for stated in listed:
        found = held_by_id.get(stated.device_id)
        if found is None:
            continue
        for name in _TOTALS:
            want, got = getattr(stated, name), getattr(found, name)
            if want != got:
                fail(
                    f"{stated.device_id}: the manifest says {name} {_show(want)}, the file holds {_show(got)}"
                )


def _show(value: Any) -> str:
    return value.hex() if isinstance(value, bytes) else str(value)


def _is_point(public: bytes) -> bool:
    try:
        signing.load_public_key_point(public)
    except ValueError:
        return False
    return True


def verify_stream(
    stream: BinaryIO, *, every_signature: bool = False, export_key: str | bytes | None = None
) -> Report:
    """Verify an export read from a binary stream (gzip or not); the report holds every line."""
    report = Report()
    began = time.perf_counter()
    head = stream.peek(2)[:2] if hasattr(stream, "peek") else b""
    source: BinaryIO = gzip.GzipFile(fileobj=stream) if head == _GZIP_MAGIC else stream  # type: ignore[assignment]
    reader = _Reader(report, every_signature, export_key)
    try:
        reader.read(source)
    except (OSError, EOFError) as exc:  # a damaged gzip stream
        report.fail(EXPORT_SCOPE, FILE, f"cannot be read past line {reader.line_no}: {exc}")
        reader.end()
    report.elapsed_s = time.perf_counter() - began
    return report


def load_pinned_key(value: str) -> str | bytes:
    """--export-key: a key id (16 hex), or a file with the export key (PEM, or the SEC1 point in hex)."""
    if len(value) == 16 and all(c in "0123456789abcdef" for c in value):
        return value
    text = Path(value).read_text()
    if "BEGIN PUBLIC KEY" in text:
        return signing.public_key_bytes(signing.load_public_key_pem(text))
    return bytes.fromhex(text.strip())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The verifier's arguments (shared by `tracegate verify` and `python -m gateway.export.verify`)."""
    parser.add_argument("file", help="the export (JSON Lines, or gzip of it); - reads standard input")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON document")
    parser.add_argument(
        "--every-signature",
        action="store_true",
        help="verify each signature the file holds too, so each signed envelope is evidence alone (events "
        "the gateway kept without one are still covered by the next); by default a signature proves every "
        "event chained before it and one is verified per stretch",
    )
    parser.add_argument(
        "--export-key",
        default=None,
        metavar="FILE|KEY_ID",
        help="the gateway's export key you trust (PEM file from GET /v1/export/key, or its 16-hex key id): "
        "without it the manifest's signature proves integrity, not whose it is",
    )


def run(args: argparse.Namespace) -> int:
    """Verify args.file and print the result; the exit status (report.py)."""
    try:
        pinned = load_pinned_key(args.export_key) if args.export_key else None
    except (OSError, ValueError) as exc:
        print(f"tracegate verify: --export-key: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.file == "-":
            report = verify_stream(sys.stdin.buffer, every_signature=args.every_signature, export_key=pinned)
        else:
            with open(args.file, "rb") as stream:
                report = verify_stream(stream, every_signature=args.every_signature, export_key=pinned)
    except OSError as exc:
        print(f"tracegate verify: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(report.json_text())
    else:
        for text in report.text_lines():
            print(text)
    return report.exit_status


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m gateway.export.verify FILE`."""
    parser = argparse.ArgumentParser(
        prog="python -m gateway.export.verify", description=__doc__.splitlines()[0]
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

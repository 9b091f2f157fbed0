"""The audit export's read side: which devices and seqs, each device's key history, its events page by page.

`plan_export` answers the questions that fit in a few small queries (which devices the principal may
export, the seq range, keys, revocations, gap notices); `export_chunks` then streams the file a page of
events at a time, so memory stays flat whatever the history's length (docs/export.md). A range that ends
on an event stored without a signature (a later one of its chain covers it) is followed by the events up
to that signed one, as proof records (digests only). Events whose bytes are stored sealed (buyer data)
are opened here only to hash them and strip the buyer's contacts: the clear bytes never leave this module.
Those that can no longer be opened, and erased ones, carry the digest stored with their row.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

from google.protobuf.message import DecodeError

from gateway import errors
from gateway.auth.tokens import Principal
from gateway.devices import REVOKED, Device
from gateway.errors import GatewayError
from gateway.export.format import (
    ATTESTED_BY_DEVICE,
    ATTESTED_BY_GATEWAY,
    REGISTERED,
    REGISTERED_AFTER_REVOCATION,
    ROTATION,
)
from gateway.export.records import DeviceEntry, EventEntry, GapEntry, KeyEntry, Revocation, withheld_event
from gateway.export.writer import ExportSigner, ExportWriter
from gateway.query.local_time import parse_time
from gateway.query.scoping import scope_for
from gateway.security.buyer_data import SEALED, open_event
from gateway.security.pii_keys import PiiKeyError, PiiKeyRing
from gateway.storage.device_store import load_devices
from gateway.storage.key_history_store import DeviceVersion, RevocationRecord, load_revocations, load_versions
from gateway.wire import pb, signing

Run = Callable[[Callable[[Any], Any]], Any]  # runs a function on the storage client (Storage.run_sync)
PAGE = 2000  # events a query: a few MB of rows, however long the history
PROOF_PAGE = 100  # proof records a query: what follows a range up to its covering signature, usually few
OFD_PROTOCOL = "ofd"


@dataclass(frozen=True)
class ExportRequest:
    """What to export: devices (or every device of a seller), and a seq and/or event-time range."""

    device_ids: tuple[str, ...] = ()
    seller_tin: str | None = None
    from_seq: int | None = None
    to_seq: int | None = None
    since_ms: int | None = None
    until_ms: int | None = None

    def to_json(self) -> dict[str, Any]:
        """As in the file's header."""
        out = asdict(self)
        out["device_ids"] = list(self.device_ids)
        return out


@dataclass(frozen=True)
class DevicePlan:
    """One device's section: its record, and what to read for it."""

    entry: DeviceEntry
    seller_tin: str
    events: int  # in the range (for progress)


@dataclass(frozen=True)
class Rotation:
    """An accepted KeyRotation event."""

    seq: int
    key_id: str
    public_key: bytes
    received_ms: int


def _seq(value: str | None, name: str) -> int | None:
    if value is None or not value.strip():
        return None
    digits = value.strip()  # ASCII only: isdigit() and int() take "１" (and other scripts' digits) too
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 19 or not 1 <= int(digits) <= 2**63 - 1:
        raise GatewayError(errors.MALFORMED_REQUEST, f"{name} must be a seq (a whole number from 1)")
    return int(digits)


def parse_request(query: Mapping[str, str], devices: list[str]) -> ExportRequest:
    """An export request from query parameters (device=…&tin=…&from_seq=…&to_seq=…&since=…&until=…);
    devices: the device= values (repeatable, or comma-separated)."""
    ids = tuple(dict.fromkeys(d.strip() for value in devices for d in value.split(",") if d.strip()))
    request = ExportRequest(
        ids,
        (query.get("tin") or "").strip() or None,
        _seq(query.get("from_seq"), "from_seq"),
        _seq(query.get("to_seq"), "to_seq"),
        parse_time(query.get("since")),
        parse_time(query.get("until")),
    )
    if request.from_seq and request.to_seq and request.from_seq > request.to_seq:
        raise GatewayError(errors.MALFORMED_REQUEST, "from_seq is after to_seq")
    # A reversed period is a mistake, not an empty (valid-looking) export.
    if request.since_ms is not None and request.until_ms is not None and request.since_ms >= request.until_ms:
        raise GatewayError(errors.MALFORMED_REQUEST, key="error.until_before_since")
    return request


def keys_of(
    versions: list[DeviceVersion], rotations: list[Rotation], first_signed: Mapping[str, int], head: int
) -> tuple[KeyEntry, ...]:
    """Every key of the device, in the order they took over: registrations (the first from seq 1, a new
    key after a revocation from the first seq it signed) and signed rotations (from the seq after)."""
    rotated = {r.key_id for r in rotations}
    keys = [KeyEntry(r.key_id, r.public_key, r.seq + 1, ROTATION, r.received_ms) for r in rotations]
    registered: list[KeyEntry] = []
    for version in versions:
        if version.key_id in rotated or any(k.key_id == version.key_id for k in registered):
            continue
        point = signing.public_key_bytes(signing.load_public_key_pem(version.public_key_pem))
        # A key that has not signed yet takes over after the newest event (from seq 1 if it is the first).
        start = first_signed.get(version.key_id, head + 1 if registered else 1)
        source = REGISTERED if start == 1 else REGISTERED_AFTER_REVOCATION
        registered.append(KeyEntry(version.key_id, point, start, source, version.updated_ms))
    # A key that signed but that no version or rotation names: its row was merged away before
    # device_keys kept every key (migration 0010). Its id is known, its public key is not.
    named = rotated | {k.key_id for k in registered}
    for key_id, seq in first_signed.items():
        if key_id not in named:
            source = REGISTERED if seq == 1 else REGISTERED_AFTER_REVOCATION
            registered.append(KeyEntry(key_id, None, seq, source, 0))
    return tuple(sorted(keys + registered, key=lambda k: (k.from_seq, k.source != REGISTERED)))


def revocations_of(
    versions: list[DeviceVersion], records: list[RevocationRecord]
) -> list[tuple[int, int | None]]:
    """(when, from seq) of each revocation: a version that turned the device revoked, and each
    revoke --from-seq (the from seq it recorded; None: from the time of the revocation)."""
    by_version = {r.revoked_ms: r.from_seq for r in records}
    out: list[tuple[int, int | None]] = []
    previous = ""
    for version in versions:
        if version.status == REVOKED and (previous != REVOKED or version.updated_ms in by_version):
            out.append((version.updated_ms, by_version.get(version.updated_ms)))
        previous = version.status
    return out


def parse_event(raw: bytes) -> pb.Event | None:
    """An Event from stored bytes, None if they do not decode."""
    try:
        return pb.Event.FromString(raw)
    except DecodeError:
        return None


class _Device:
    """The queries of one device (its seller's rows first in the primary key: each is a range read)."""

    def __init__(self, client: Any, db: str, device: Device) -> None:
        self.client, self.db, self.device = client, db, device
        self.where = "seller_tin = {tin:String} AND device_id = {device_id:String}"
        self.params: dict[str, Any] = {"tin": device.seller_tin, "device_id": device.device_id}

    def rows(self, sql: str, **params: Any) -> list[Any]:
        formats = {"event": "bytes"}
        rows = self.client.query(sql, parameters={**self.params, **params}, column_formats=formats)
        return list(rows.result_rows)

    def seq_range(self, request: ExportRequest) -> tuple[tuple[int, int] | None, int]:
        """(first, last) seq to export (None if no stored event is in the range), and the newest seq."""
        since = "event_time >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')"
        until = "event_time < fromUnixTimestamp64Milli({until:Int64}, 'UTC')"
        both = " AND ".join(
            [since if request.since_ms is not None else "1", until if request.until_ms is not None else "1"]
        )
        [(head, matching, first, last)] = self.rows(
            f"SELECT max(seq), countIf({both}), minIf(seq, {both}), maxIf(seq, {both}) "
            f"FROM {self.db}.events WHERE {self.where}",
            since=request.since_ms or 0,
            until=request.until_ms or 0,
        )
        if not matching:
            return None, int(head)
        # The range is contiguous (the chain must be): from the first to the last seq in the time range.
        first, last = max(int(first), request.from_seq or 1), min(int(last), request.to_seq or int(head))
        return ((first, last) if first <= last else None), int(head)

    def count(self, first: int, last: int) -> int:
        [(count,)] = self.rows(
            f"SELECT count() FROM {self.db}.events WHERE {self.where} "
            "AND seq BETWEEN {first:UInt64} AND {last:UInt64}",
            first=first,
            last=last,
        )
        return int(count)

    def chain_events(self) -> tuple[list[Rotation], list[tuple[int, pb.GapNotice]]]:
        """Every accepted key rotation and gap notice of the device."""
        rotations: list[Rotation] = []
        gaps: list[tuple[int, pb.GapNotice]] = []
        sql = (
            f"SELECT seq, event, toUnixTimestamp64Milli(received_at) FROM {self.db}.events WHERE "
            f"{self.where} AND kind IN ('key_rotation', 'gap_notice') ORDER BY seq"
        )
        for seq, raw, received_ms in self.rows(sql):
            event = parse_event(bytes(raw))
            if event is None:
                continue
            if event.WhichOneof("body") == "key_rotation":
                point = bytes(event.key_rotation.new_public_key)
                try:
                    key_id = signing.key_id_of(signing.load_public_key_point(point))
                except ValueError:
                    continue  # the verifier reports it from the event itself
                rotations.append(Rotation(int(seq), key_id, point, int(received_ms)))
            elif event.WhichOneof("body") == "gap_notice":
                gaps.append((int(seq), event.gap_notice))
        return rotations, gaps

    def first_signed(self) -> dict[str, int]:
        sql = f"SELECT key_id, min(seq) FROM {self.db}.events WHERE {self.where} GROUP BY key_id"
        return {str(key_id): int(seq) for key_id, seq in self.rows(sql)}

    def first_received_after(self, at_ms: int) -> int | None:
        [(found, seq)] = self.rows(
            f"SELECT count(), min(seq) FROM {self.db}.events WHERE {self.where} AND received_at > "
            "fromUnixTimestamp64Milli({at:Int64}, 'UTC')",
            at=at_ms,
        )
        return int(seq) if found else None

    def protocol(self) -> str:
        """The devices row's protocol column where the schema has one (OFD front door), else tracegate."""
        found = self.client.query(
            "SELECT count() FROM system.columns WHERE database = {db:String} AND table = 'devices' "
            "AND name = 'protocol'",
            parameters={"db": self.db},
        ).result_rows[0][0]
        if not found:
            return "tracegate"
        rows = self.client.query(
            f"SELECT argMax(protocol, updated_ms) FROM {self.db}.devices "
            "WHERE device_id = {device_id:String}",
            parameters={"device_id": self.device.device_id},
        ).result_rows
        return str(rows[0][0]) if rows and rows[0][0] else "tracegate"


def _plan_device(client: Any, db: str, device: Device, request: ExportRequest) -> DevicePlan:
    queries = _Device(client, db, device)
    found, head = queries.seq_range(request)
    rotations, gap_notices = queries.chain_events()
    versions = load_versions(client, db, device.device_id)
    revocations = tuple(
        Revocation(
            from_seq if from_seq is not None else (queries.first_received_after(at_ms) or head + 1),
            at_ms,
            compromised=from_seq is not None,
        )
        for at_ms, from_seq in revocations_of(versions, load_revocations(client, db, device.device_id))
    )
    first, last = (found[0], found[1]) if found else (None, None)
    gaps = tuple(
        GapEntry(seq, notice.first_missing_seq, notice.last_missing_seq)
        for seq, notice in gap_notices
        if first is not None and last is not None and first <= seq <= last
    )
    protocol = queries.protocol()
    entry = DeviceEntry(
        device.device_id,
        device.seller_tin,
        device.store_id,
        device.status,
        protocol,
        ATTESTED_BY_GATEWAY if protocol == OFD_PROTOCOL else ATTESTED_BY_DEVICE,
        keys_of(versions, rotations, queries.first_signed(), head),
        revocations,
        gaps,
        first,
        last,
        head or None,
    )
    return DevicePlan(entry, device.seller_tin, queries.count(found[0], found[1]) if found else 0)


def plan_export(client: Any, db: str, principal: Principal, request: ExportRequest) -> list[DevicePlan]:
    """The sections of the export this principal asked for; a retailer only ever gets its own devices."""
    scope = scope_for(principal, request.seller_tin)
    if not request.device_ids and scope.seller_tin is None:
        raise GatewayError(errors.MALFORMED_REQUEST, "name the devices (device=ID) or the seller (tin=TIN)")
    if not request.device_ids:
        chosen = load_devices(client, db, seller_tin=scope.seller_tin)
    else:
        found = {d.device_id: d for d in load_devices(client, db, device_ids=list(request.device_ids))}
        chosen = []
        for device_id in request.device_ids:
            device = found.get(device_id)
            # Another seller's device is answered exactly like one that does not exist.
            if device is None or scope.seller_tin not in (None, device.seller_tin):
                raise GatewayError(errors.NOT_FOUND, key="error.no_device", params={"device": device_id})
            chosen.append(device)
    return [_plan_device(client, db, device, request) for device in chosen]


def _opened(
    client: Any, db: str, ring: PiiKeyRing | None, plan: DevicePlan, sealed: dict[int, tuple[bytes, bytes]]
) -> dict[int, bytes]:
    """The clear signed bytes of sealed events, where the buyer's row (and so its key) is still alive."""
    if ring is None or not sealed:
        return {}
    sql = (
        f"SELECT seq, key_id, wrapped_key FROM {db}.receipt_buyers_live WHERE seller_tin = {{tin:String}} "
        "AND device_id = {device_id:String} AND seq IN {seqs:Array(UInt64)}"
    )
    rows = client.query(
        sql,
        parameters={"tin": plan.seller_tin, "device_id": plan.entry.device_id, "seqs": sorted(sealed)},
        column_formats={"wrapped_key": "bytes"},
    )
    out: dict[int, bytes] = {}
    for seq, key_id, wrapped in rows.result_rows:
        stored, envelope_hash = sealed[int(seq)]
        row = {
            "key_id": key_id,
            "wrapped_key": bytes(wrapped),
            "device_id": plan.entry.device_id,
            "seq": int(seq),
        }
        try:
            out[int(seq)] = open_event(ring, row, stored, envelope_hash)
        except PiiKeyError:
            continue  # shredded or altered: the export then holds the digest stored with the row
    return out


def event_page(
    client: Any,
    db: str,
    plan: DevicePlan,
    after: int,
    ring: PiiKeyRing | None,
    limit: int = PAGE,
    last: int | None = None,
) -> list[tuple[EventEntry, bytes]]:
    """The next events of a section after seq `after` up to `last` (default: its range's end), as records
    with their stored chain hashes."""
    last = plan.entry.to_seq if last is None else last
    assert last is not None
    sql = (
        "SELECT seq, prev_hash, event, signature, key_id, envelope_hash, fiscal_sign, "
        "toUnixTimestamp64Milli(received_at), protection, kind, event_sha256 "
        f"FROM {db}.events WHERE seller_tin = {{tin:String}} AND device_id = {{device_id:String}} "
        "AND seq > {after:UInt64} AND seq <= {last:UInt64} ORDER BY seq LIMIT {limit:UInt32}"
    )
    params = {
        "tin": plan.seller_tin,
        "device_id": plan.entry.device_id,
        "after": after,
        "last": last,
        "limit": limit,
    }
    formats = {"event": "bytes", "signature": "bytes", "event_sha256": "bytes"}
    rows = client.query(sql, parameters=params, column_formats=formats).result_rows
    sealed = {int(r[0]): (bytes(r[2]), bytes(r[5])) for r in rows if str(r[8]) == SEALED}
    opened = _opened(client, db, ring, plan, sealed)
    out: list[tuple[EventEntry, bytes]] = []
    for (
        seq,
        prev_hash,
        event,
        signature,
        key_id,
        envelope_hash,
        fiscal_sign,
        received_ms,
        protection,
        kind,
        event_sha256,
    ) in rows:
        entry = EventEntry(
            plan.entry.device_id,
            int(seq),
            bytes(prev_hash),
            str(key_id),
            bytes(signature),
            bytes(event),
            int(received_ms),
            str(fiscal_sign),
        )
        if protection:
            entry = withheld_event(
                entry,
                str(protection),
                str(kind),
                opened.get(int(seq)),
                bytes(event_sha256),
                bytes(envelope_hash),
            )
        out.append((entry, bytes(envelope_hash)))
    return out


def export_chunks(
    run: Run,
    db: str,
    plans: list[DevicePlan],
    *,
    signer: ExportSigner,
    gateway_id: str,
    exported_by: dict[str, str],
    request: ExportRequest,
    ring: PiiKeyRing | None,
) -> Iterator[bytes]:
    """The file, a page of events at a time (run: calls a function with the storage client)."""
    writer = ExportWriter(gateway_id, int(time.time() * 1000), exported_by)
    yield writer.header(request.to_json())
    for plan in plans:
        yield writer.device(plan.entry)
        yield from _section(run, db, plan, writer, ring)
    yield writer.finish(signer)


def _section(
    run: Run, db: str, plan: DevicePlan, writer: ExportWriter, ring: PiiKeyRing | None
) -> Iterator[bytes]:
    """A section's events, then the proof records its range's end needs, a page at a time."""
    first, last, head = plan.entry.from_seq, plan.entry.to_seq, plan.entry.head_seq
    if first is None or last is None or head is None:
        return
    after = first - 1
    while after < last:
        page: list[tuple[EventEntry, bytes]] = run(
            partial(event_page, db=db, plan=plan, after=after, ring=ring)
        )
        if not page:
            break
        yield b"".join(writer.event(entry, envelope_hash) for entry, envelope_hash in page)
        after = page[-1][0].seq
    # The range ends on an event whose signature a later one of its chain stands for: that one follows.
    after = last
    while writer.needs_proof() and after < head:
        page = run(partial(event_page, db=db, plan=plan, after=after, ring=ring, limit=PROOF_PAGE, last=head))
        if not page:
            break
        chunk = b""
        for entry, envelope_hash in page:
            chunk += writer.proof(entry, envelope_hash)
            if not writer.needs_proof():
                break
        yield chunk
        after = page[-1][0].seq

"""Erasing a person's buyer data on request (`tracegate pii forget`), found by keyed hash, with a count.

A person's data lives sealed in ClickHouse (receipt_buyers, events.event), and, until shipped, sealed in
the gateway's journal records (JournalRecord.sealed) and in records set aside in its quarantine. Forget
waits (briefly) for the journal to ship what it holds, deletes in ClickHouse, rewrites the quarantined
records without the person, and counts what is left: receipts still only in the journal (storage behind),
and sealed copies in journal segments already shipped, deleted with their segment.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from google.protobuf.message import DecodeError

from gateway.ingest.journal import Journal, JournalCorrupted
from gateway.security.buyer_data import CONTACT_KINDS, ERASED, forget_in_record, names_person
from gateway.security.pii_keys import PiiKeyRing
from gateway.shipping.quarantine import Quarantine
from gateway.wire import pb

_SCAN_RECORDS = 10_000  # journal records read at a time while counting


def lookup_hashes(ring: PiiKeyRing, contacts: dict[str, str]) -> dict[str, str]:
    """The keyed lookup hash of each contact given, by kind; ValueError if none is given."""
    hashes = {kind: ring.lookup_hash(kind, contacts.get(kind, "")) for kind in CONTACT_KINDS}
    hashes = {kind: digest for kind, digest in hashes.items() if digest}
    if not hashes:
        raise ValueError("give at least one of e-mail, phone, IIN")
    return hashes


def lookup_condition(hashes: dict[str, str]) -> tuple[str, dict[str, str]]:
    """SQL condition and parameters matching receipt_buyers rows of any of the given hashes."""
    parts = [f"{kind}_hash = {{{kind}:String}}" for kind in hashes]
    return "(" + " OR ".join(parts) + ")", dict(hashes)


def count_matching(client: Any, database: str, hashes: dict[str, str]) -> int:
    """How many receipts in storage hold this person's data (expired or not, until the TTL merge)."""
    where, params = lookup_condition(hashes)
    sql = f"SELECT count() FROM {database}.receipt_buyers WHERE {where}"
    return int(client.query(sql, parameters=params).result_rows[0][0])


def forget(client: Any, database: str, hashes: dict[str, str]) -> dict[str, int]:
    """Delete the person's receipt_buyers rows (crypto-shredding their sealed event bytes) and blank
    those event bytes too; returns {"erased": rows found, "remaining": rows left (0 proves it)}."""
    where, params = lookup_condition(hashes)
    keys = client.query(
        f"SELECT device_id, seq FROM {database}.receipt_buyers WHERE {where}", parameters=params
    ).result_rows
    found = len(keys)
    if found:
        sync = "SETTINGS mutations_sync = 2"
        client.command(
            f"ALTER TABLE {database}.receipt_buyers DELETE WHERE {where} {sync}", parameters=params
        )
        # The rows' wrapped keys are gone, so the sealed bytes are unreadable already; blank them anyway so
        # nothing of the person stays on disk once the mutation has run.
        pairs = {"ids": [str(k[0]) for k in keys], "seqs": [int(k[1]) for k in keys]}
        client.command(
            f"ALTER TABLE {database}.events UPDATE event = '', protection = '{ERASED}' "
            "WHERE (device_id, seq) IN arrayZip({ids:Array(String)}, {seqs:Array(UInt64)}) "
            f"{sync}",
            parameters=pairs,
        )
    return {"erased": found, "remaining": count_matching(client, database, hashes)}


def _may_name(raw: bytes, hashes: dict[str, str]) -> bool:
    # The hashes are hex text inside the record: most records are ruled out without parsing them.
    return any(digest.encode() in raw for digest in hashes.values())


def _naming(raw: bytes, hashes: dict[str, str]) -> pb.JournalRecord | None:
    if not _may_name(raw, hashes):
        return None
    try:
        record = pb.JournalRecord.FromString(raw)
    except DecodeError:
        return None
    return record if names_person(record, hashes) else None


def count_in_journal(journal: Journal, start: int, stop: int, hashes: dict[str, str]) -> int:
    """Records of the journal between two positions that hold the person's sealed data."""
    count, position = 0, max(start, journal.oldest_position)
    while position < stop:
        try:
            records, position = journal.read(position, max_records=_SCAN_RECORDS, stop=stop)
        except (OSError, JournalCorrupted):
            if journal.oldest_position <= position:
                raise
            position = journal.oldest_position  # shipped segments deleted meanwhile: their copies are gone
            continue
        if not records:
            break
        count += sum(1 for raw in records if _naming(raw, hashes) is not None)
    return count


def forget_set_aside(quarantine: Quarantine, hashes: dict[str, str]) -> int:
    """Rewrite the quarantined records that hold the person's data without it; how many there were."""
    erased = 0
    for entry in quarantine.entries():
        record = _naming(entry.record, hashes)
        if record is None:
            continue
        forget_in_record(record)
        quarantine.replace(dataclasses.replace(entry, record=record.SerializeToString()))
        erased += 1
    return erased

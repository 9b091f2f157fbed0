"""Erasing a person's buyer data on request (`tracegate pii forget`), found by keyed hash, with a count."""

from __future__ import annotations

from typing import Any

from gateway.security.buyer_data import CONTACT_KINDS, ERASED
from gateway.security.pii_keys import PiiKeyRing


def lookup_condition(ring: PiiKeyRing, contacts: dict[str, str]) -> tuple[str, dict[str, str]]:
    """SQL condition and parameters matching receipt_buyers rows of any of the given contacts."""
    parts: list[str] = []
    params: dict[str, str] = {}
    for kind in CONTACT_KINDS:
        value = contacts.get(kind, "")
        digest = ring.lookup_hash(kind, value) if value else ""
        if digest:
            parts.append(f"{kind}_hash = {{{kind}:String}}")
            params[kind] = digest
    if not parts:
        raise ValueError("give at least one of e-mail, phone, IIN")
    return "(" + " OR ".join(parts) + ")", params


def count_matching(client: Any, database: str, ring: PiiKeyRing, contacts: dict[str, str]) -> int:
    """How many receipts hold this person's data (expired or not, until the TTL merge removes them)."""
    where, params = lookup_condition(ring, contacts)
    sql = f"SELECT count() FROM {database}.receipt_buyers WHERE {where}"
    return int(client.query(sql, parameters=params).result_rows[0][0])


def forget(client: Any, database: str, ring: PiiKeyRing, contacts: dict[str, str]) -> dict[str, int]:
    """Delete the person's receipt_buyers rows (crypto-shredding their sealed event bytes) and blank
    those event bytes too; returns {"erased": rows found, "remaining": rows left (0 proves it)}."""
    where, params = lookup_condition(ring, contacts)
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
    return {"erased": found, "remaining": count_matching(client, database, ring, contacts)}

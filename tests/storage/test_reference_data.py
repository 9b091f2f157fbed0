"""Devices and chain heads read back from storage, as the gateway restores them at start."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from gateway.devices import Device, revoked
from gateway.storage.chain_heads import load_chain_heads, load_envelopes
from gateway.storage.client import Storage
from gateway.storage.device_store import load_devices, load_registry, save_device
from gateway.storage.migrations import render_schema
from gateway.storage.rows import build_rows
from gateway.wire import pb, signing
from tests.storage.journal_records import Register

pytestmark = pytest.mark.clickhouse
PEM_A, PEM_B = (signing.public_key_pem(signing.new_private_key().public_key()) for _ in range(2))


def insert(storage: Storage, records: list[pb.JournalRecord]) -> None:
    def run(client: Any) -> None:
        for rows in build_rows(records).values():
            client.insert(rows.table, rows.data(), column_names=rows.column_names(),
                          database=storage.database, column_oriented=True)

    storage.run_sync(run)


def test_newest_version_of_a_device_wins(storage: Storage) -> None:
    db = storage.database
    device = Device("KKM-1", "123456789012", "store-1", "PEM-A", "key-a", "active", updated_ms=1000)
    other = Device("KKM-2", "999999999999", "store-2", "PEM-B", "key-b", "active", updated_ms=1000)
    revoked = Device("KKM-1", "123456789012", "store-1", "PEM-A", "key-a", "revoked", updated_ms=2000)
    for d in (device, other, revoked):
        storage.run_sync(lambda c, d=d: save_device(c, db, d))
    assert storage.run_sync(lambda c: load_devices(c, db)) == [revoked, other]


def test_a_revoked_key_stays_revoked_whatever_version_of_the_device_wins(storage: Storage) -> None:
    db = storage.database
    first = Device("KKM-1", "123456789012", "store-1", PEM_A, "key-a", "active", updated_ms=1000)
    second = Device("KKM-1", "123456789012", "store-1", PEM_B, "key-b", "active", updated_ms=3000)
    for d in (first, dataclasses.replace(revoked(first), updated_ms=2000), second):
        storage.run_sync(lambda c, d=d: save_device(c, db, d))
    storage.run_sync(lambda c: c.command(f"OPTIMIZE TABLE {db}.devices FINAL"))  # older versions merged away
    registry = storage.run_sync(lambda c: load_registry(c, db))
    assert registry.get("KKM-1") == second
    assert registry.revoked_keys("KKM-1") == {"key-a"}
    assert {k.key_id: k.public_key_pem for k in registry.history("KKM-1")} == {"key-a": PEM_A, "key-b": PEM_B}


def test_the_key_history_starts_from_the_device_versions_on_disk(storage: Storage) -> None:
    db = storage.database
    old = Device("KKM-9", "123456789012", "store-1", PEM_A, "key-a", "revoked", updated_ms=1000)
    new = Device("KKM-9", "123456789012", "store-1", PEM_B, "key-b", "active", updated_ms=2000)
    rows = [[d.device_id, d.seller_tin, d.store_id, d.public_key_pem, d.key_id, d.status, d.updated_ms]
            for d in (old, new)]
    columns = ["device_id", "seller_tin", "store_id", "public_key_pem", "key_id", "status", "updated_ms"]
    for row in rows:  # as two saves did (one insert would keep only the newest)
        storage.run_sync(lambda c, row=row: c.insert("devices", [row], column_names=columns, database=db))
    backfill = [s for s in render_schema(db) if s.startswith(f"INSERT INTO {db}.device_keys")]
    assert backfill
    for statement in backfill * 2:  # a migration run again after a crash adds nothing new
        storage.run_sync(lambda c, s=statement: c.command(s))
    registry = storage.run_sync(lambda c: load_registry(c, db))
    assert registry.revoked_keys("KKM-9") == {"key-a"} and registry.get("KKM-9") == new


def test_chain_heads_are_the_newest_event_of_each_device(storage: Storage) -> None:
    first, second = Register("KKM-A"), Register("KKM-B")
    a = first.shift(1, 2, 1)
    b = second.shift(7, 1, 40)
    insert(storage, [*b, *a])
    heads = {h.device_id: h for h in storage.run_sync(lambda c: load_chain_heads(c, storage.database))}
    assert set(heads) == {"KKM-A", "KKM-B"}
    assert heads["KKM-A"].seq == 4 and heads["KKM-A"].envelope_hash == a[-1].envelope_hash
    assert heads["KKM-B"].fiscal_sign == b[-1].fiscal_sign
    assert heads["KKM-B"].event_time_ms == pb.Event.FromString(b[-1].envelope.event).time_ms


def test_stored_envelopes_come_back_byte_for_byte(storage: Storage) -> None:
    register = Register("KKM-A")
    records = register.shift(1, 2, 1)
    insert(storage, records)
    found = storage.run_sync(lambda c: load_envelopes(c, storage.database, "KKM-A", [2, 3, 99]))
    assert sorted(found) == [2, 3]
    for seq in (2, 3):
        env = records[seq - 1].envelope
        stored = found[seq]
        assert (stored.event, stored.signature, stored.prev_hash, stored.key_id) == (
            env.event, env.signature, env.prev_hash, env.key_id)
        assert stored.envelope_hash == records[seq - 1].envelope_hash
        assert stored.fiscal_sign == records[seq - 1].fiscal_sign
    assert storage.run_sync(lambda c: load_envelopes(c, storage.database, "KKM-A", [])) == {}

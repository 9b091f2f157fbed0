"""A device's key history outlives the merges that collapse devices to its newest row."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.devices import new_device, revoked
from gateway.storage.client import Storage
from gateway.storage.device_store import load_devices, save_device
from gateway.storage.key_history_store import load_revocations, load_versions, record_revocation
from gateway.wire import signing

pytestmark = pytest.mark.clickhouse


def _pem() -> str:
    return signing.public_key_pem(signing.new_private_key().public_key())


def test_every_version_survives_a_merge_of_devices(storage: Storage) -> None:
    db = storage.database
    first = new_device("KKM-V1", "123456789012", "s1", _pem())
    gone = revoked(first)
    second = replace(new_device("KKM-V1", "123456789012", "s1", _pem()), updated_ms=gone.updated_ms + 1)
    for version in (first, gone, second):
        storage.run_sync(lambda c, v=version: save_device(c, db, v))
    storage.run_sync(lambda c: record_revocation(c, db, gone, from_seq=7))
    storage.run_sync(lambda c: c.command(f"OPTIMIZE TABLE {db}.devices FINAL"))
    [(rows,)] = storage.run_sync(lambda c: c.query(f"SELECT count() FROM {db}.devices").result_rows)
    assert rows == 1  # the merge kept the newest row only ...
    versions = storage.run_sync(lambda c: load_versions(c, db, "KKM-V1"))
    # ... and the history kept all three, the first key's public key with them.
    assert [(v.key_id, v.status) for v in versions] == [
        (first.key_id, "active"),
        (first.key_id, "revoked"),
        (second.key_id, "active"),
    ]
    assert versions[0].public_key_pem == first.public_key_pem
    [revocation] = storage.run_sync(lambda c: load_revocations(c, db, "KKM-V1"))
    assert (revocation.from_seq, revocation.revoked_ms) == (7, gone.updated_ms)
    assert [d.key_id for d in storage.run_sync(lambda c: load_devices(c, db, device_ids=["KKM-V1"]))] == [
        second.key_id
    ]
    assert storage.run_sync(lambda c: load_devices(c, db, seller_tin="999999999999")) == []

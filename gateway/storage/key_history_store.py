"""A device's key history as storage keeps it: every devices version, and revocations from a seq on."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from gateway.devices import Device


@dataclass(frozen=True)
class DeviceVersion:
    """One version of a device's row: its key and status from updated_ms on."""

    key_id: str
    public_key_pem: str
    status: str
    updated_ms: int


@dataclass(frozen=True)
class RevocationRecord:
    """`devices revoke --from-seq`: the version it wrote (revoked_ms) and the seq the key is bad from."""

    key_id: str
    from_seq: int
    revoked_ms: int


def record_revocation(client: Any, database: str, revoked: Device, from_seq: int) -> None:
    """Keep the seq a key is compromised from (before the revoked version is saved: a failed save leaves a
    record no version matches, which readers ignore)."""
    row = [
        revoked.device_id,
        revoked.seller_tin,
        revoked.key_id,
        from_seq,
        revoked.updated_ms,
        int(time.time() * 1000),
    ]
    names = ["device_id", "seller_tin", "key_id", "from_seq", "revoked_ms", "recorded_at"]
    client.insert("device_revocations", [row], column_names=names, database=database)


def load_versions(client: Any, database: str, device_id: str) -> list[DeviceVersion]:
    """Every version of the device's row still known, oldest first: the key history (device_keys, one row
    per save of the device, never collapsed) and devices itself (its newest version, and any saved before
    the key history was kept). Keys only a rotation named (no PEM of their own) come from the rotations."""
    sql = (
        "SELECT DISTINCT key_id, public_key_pem, status, updated_ms FROM ("
        "SELECT key_id, public_key_pem, if(revoked, 'revoked', 'active') AS status, at_ms AS updated_ms "
        f"FROM {database}.device_keys WHERE device_id = {{device_id:String}} AND public_key_pem != '' "
        "UNION ALL "
        f"SELECT key_id, public_key_pem, status, updated_ms FROM {database}.devices "
        "WHERE device_id = {device_id:String}) ORDER BY updated_ms, status"
    )
    rows = client.query(sql, parameters={"device_id": device_id}).result_rows
    return [DeviceVersion(str(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in rows]


def load_revocations(client: Any, database: str, device_id: str) -> list[RevocationRecord]:
    """The device's revocations from a seq, oldest first."""
    sql = (
        f"SELECT DISTINCT key_id, from_seq, revoked_ms FROM {database}.device_revocations "
        "WHERE device_id = {device_id:String} ORDER BY revoked_ms"
    )
    rows = client.query(sql, parameters={"device_id": device_id}).result_rows
    return [RevocationRecord(str(r[0]), int(r[1]), int(r[2])) for r in rows]

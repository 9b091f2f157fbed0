"""The devices and device_keys tables: each save of a device is a new version of its row (the newest
updated_ms wins) and a row of its key in the key history, which is never collapsed: a key once revoked
stays revoked whatever versions a merge keeps."""

from __future__ import annotations

from typing import Any

from gateway.devices import OFD, REVOKED, Device, DeviceRegistry, KnownKey, OfdIdentity

_COLUMNS = [
    "device_id", "seller_tin", "store_id", "public_key_pem", "key_id", "status", "updated_ms", "protocol",
    "ofd_id", "kgd_number", "ofd_token_mac", "ofd_key_epoch",
]
_KEY_COLUMNS = ["device_id", "key_id", "public_key_pem", "revoked", "at_ms"]


def load_devices(
    client: Any, database: str, *, device_ids: list[str] | None = None, seller_tin: str | None = None
) -> list[Device]:
    """Every device in its newest version, sorted by id (only these ids, or this seller's, if given)."""
    where: list[str] = []
    params: dict[str, Any] = {}
    if device_ids is not None:
        where.append("device_id IN {device_ids:Array(String)}")
        params["device_ids"] = device_ids
    # argMax rather than FINAL: correct before background merges and on every topology.
    newest = ", ".join(f"argMax({column}, updated_ms)" for column in _COLUMNS[1:6])
    ofd = ", ".join(f"argMax({column}, updated_ms)" for column in _COLUMNS[7:])
    sql = (
        f"SELECT device_id, {newest}, max(updated_ms), {ofd} FROM {database}.devices "
        f"{'WHERE ' + ' AND '.join(where) if where else ''} GROUP BY device_id "
    )
    if seller_tin is not None:
        sql += "HAVING argMax(seller_tin, updated_ms) = {seller_tin:String} "
        params["seller_tin"] = seller_tin
    return [
        Device(
            str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]), int(r[6]),
            OfdIdentity(int(r[8]), str(r[9]), str(r[10]), int(r[11])) if r[7] == OFD else None,
        )
        for r in client.query(sql + "ORDER BY device_id", parameters=params).result_rows
    ]


def load_device_keys(client: Any, database: str) -> list[tuple[str, KnownKey]]:
    """Every key of every device ever recorded: (device id, key), revoked if any report says so."""
    sql = (
        "SELECT device_id, key_id, anyIf(public_key_pem, public_key_pem != ''), max(revoked) "
        f"FROM {database}.device_keys GROUP BY device_id, key_id ORDER BY device_id, key_id"
    )
    return [
        (str(r[0]), KnownKey(str(r[1]), str(r[2] or ""), bool(r[3]))) for r in client.query(sql).result_rows
    ]


def load_registry(client: Any, database: str) -> DeviceRegistry:
    """The registry as storage holds it: devices and the history of their keys (a new registry)."""
    registry = DeviceRegistry(load_devices(client, database))
    for device_id, key in load_device_keys(client, database):
        registry.put_key(device_id, key)
    return registry


def save_device(client: Any, database: str, device: Device) -> None:
    """Store a device (a new version: give it a larger updated_ms than the one it replaces) and its key.

    The key row goes first: a device row naming a key the history lacks could let a revoked key be
    registered again on a node that has not seen the revocation's key row.
    """
    key_row = [
        device.device_id, device.key_id, device.public_key_pem, device.status == REVOKED, device.updated_ms
    ]
    client.insert("device_keys", [key_row], column_names=_KEY_COLUMNS, database=database)
    ofd = device.ofd
    row = [
        device.device_id, device.seller_tin, device.store_id, device.public_key_pem, device.key_id,
        device.status, device.updated_ms, device.protocol,
        ofd.ofd_id if ofd else 0, ofd.kgd_number if ofd else "", ofd.token_mac if ofd else "",
        ofd.key_epoch if ofd else 0,
    ]
    client.insert("devices", [row], column_names=_COLUMNS, database=database)

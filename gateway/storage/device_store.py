"""The devices table: each save is a new version of the row; the newest updated_ms wins (and every version is
kept in device_versions)."""

from __future__ import annotations

from typing import Any

from gateway.devices import Device

_COLUMNS = ["device_id", "seller_tin", "store_id", "public_key_pem", "key_id", "status", "updated_ms"]


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
    sql = (
        "SELECT device_id, argMax(seller_tin, updated_ms) AS tin, argMax(store_id, updated_ms), "
        "argMax(public_key_pem, updated_ms), argMax(key_id, updated_ms), argMax(status, updated_ms), "
        f"max(updated_ms) FROM {database}.devices {'WHERE ' + ' AND '.join(where) if where else ''} "
        "GROUP BY device_id "
    )
    if seller_tin is not None:
        sql += "HAVING tin = {seller_tin:String} "
        params["seller_tin"] = seller_tin
    return [
        Device(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]), int(r[6]))
        for r in client.query(sql + "ORDER BY device_id", parameters=params).result_rows
    ]


def save_device(client: Any, database: str, device: Device) -> None:
    """Store a device (a new version: give it a larger updated_ms than the one it replaces).

    The version is kept in device_versions too, which merges never collapse: audit exports need every key
    a device had. devices first: a version there that device_versions missed is still read from devices
    (key_history_store), while one only in device_versions would be history that never happened.
    """
    row = [
        device.device_id, device.seller_tin, device.store_id, device.public_key_pem, device.key_id,
        device.status, device.updated_ms,
    ]
    client.insert("devices", [row], column_names=_COLUMNS, database=database)
    client.insert("device_versions", [row], column_names=_COLUMNS, database=database)

"""The devices table: each save is a new version of the row; the newest updated_ms wins."""

from __future__ import annotations

from typing import Any

from gateway.devices import OFD, Device, OfdIdentity

_COLUMNS = [
    "device_id", "seller_tin", "store_id", "public_key_pem", "key_id", "status", "updated_ms", "protocol",
    "ofd_id", "kgd_number", "ofd_token_mac", "ofd_key_epoch",
]


def load_devices(client: Any, database: str) -> list[Device]:
    """Every device in its newest version, sorted by id."""
    # argMax rather than FINAL: correct before background merges and on every topology.
    newest = ", ".join(f"argMax({column}, updated_ms)" for column in _COLUMNS[1:6])
    ofd = ", ".join(f"argMax({column}, updated_ms)" for column in _COLUMNS[7:])
    sql = (
        f"SELECT device_id, {newest}, max(updated_ms), {ofd} FROM {database}.devices "
        "GROUP BY device_id ORDER BY device_id"
    )
    return [
        Device(
            str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]), int(r[6]),
            OfdIdentity(int(r[8]), str(r[9]), str(r[10]), int(r[11])) if r[7] == OFD else None,
        )
        for r in client.query(sql).result_rows
    ]


def save_device(client: Any, database: str, device: Device) -> None:
    """Store a device (a new version: give it a larger updated_ms than the one it replaces)."""
    ofd = device.ofd
    row = [
        device.device_id, device.seller_tin, device.store_id, device.public_key_pem, device.key_id,
        device.status, device.updated_ms, device.protocol,
        ofd.ofd_id if ofd else 0, ofd.kgd_number if ofd else "", ofd.token_mac if ofd else "",
        ofd.key_epoch if ofd else 0,
    ]
    client.insert("devices", [row], column_names=_COLUMNS, database=database)

"""Device keys over time: rotation (signed by the old key), registry refresh, revocation from a seq on.

A `KeyRotation` event is signed by the device's current key; once it is accepted, the chain continues
under the new key. The registry is updated in memory at once, a new version of the devices row is written
before the ack (so other nodes see it at their next refresh), and at start-up every accepted rotation
still in the journal or in `events` is applied again, so a node that missed the row write still knows the
new key. A rotation applies only to the key that signed it, so replays are idempotent; a rotated device's
`updated_ms` is the rotation's receive time, so an operator's later revoke or new key (newer) always wins.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf.message import DecodeError

from gateway.devices import Device, DeviceRegistry
from gateway.storage.client import Storage
from gateway.storage.device_store import load_devices, save_device
from gateway.wire import pb, signing

log = logging.getLogger(__name__)
SIGNED_AFTER_COMPROMISE = "signed_after_compromise"


def rotation_in(event_bytes: bytes) -> pb.KeyRotation | None:
    """The KeyRotation an event carries, or None."""
    try:
        event = pb.Event.FromString(event_bytes)
    except DecodeError:
        return None
    return event.key_rotation if event.WhichOneof("body") == "key_rotation" else None


def new_key_of(rotation: pb.KeyRotation) -> tuple[ec.EllipticCurvePublicKey, str] | None:
    """The new P-256 key and its id, if the rotation names a valid key whose id matches; else None."""
    try:
        key = signing.load_public_key_point(bytes(rotation.new_public_key))
    except ValueError:
        return None
    key_id = signing.key_id_of(key)
    if rotation.new_key_id and rotation.new_key_id != key_id:
        return None
    return key, key_id


def rotated(device: Device, rotation: pb.KeyRotation, at_ms: int) -> Device | None:
    """The device under its new key from at_ms on, or None if the rotation is not valid."""
    new = new_key_of(rotation)
    if new is None:
        return None
    key, key_id = new
    return replace(device, public_key_pem=signing.public_key_pem(key), key_id=key_id, updated_ms=at_ms)


def apply_rotation(registry: DeviceRegistry, envelope: pb.Envelope, at_ms: int) -> Device | None:
    """Apply one accepted rotation to the registry; the new device if it moved.

    It applies only where it continues the device's key: the envelope was signed by the device's current
    key (so replaying rotations already applied, or older ones, moves nothing), and nothing newer than the
    rotation happened to the device (an operator's revoke or new key wins). Several rotations in one
    batch share their receive time; each continues the key the one before it set.
    """
    rotation = rotation_in(envelope.event)
    device = registry.get(envelope.device_id)
    if rotation is None or device is None or device.key_id != envelope.key_id or device.updated_ms > at_ms:
        return None
    new = rotated(device, rotation, at_ms)
    if new is None or new.key_id == device.key_id:
        return None
    registry.put(new)
    return new


def apply_accepted(registry: DeviceRegistry, accepted: Iterable[pb.JournalRecord]) -> list[Device]:
    """Apply the rotations among accepted journal records, in order; each moved device once, as it ends."""
    moved: dict[str, Device] = {}
    for record in accepted:
        if record.accepted:
            new = apply_rotation(registry, record.envelope, record.received_ms)
            if new is not None:
                moved[new.device_id] = new
    return list(moved.values())


def load_stored_rotations(client: Any, database: str) -> list[pb.JournalRecord]:
    """Accepted rotations in `events`, oldest first, as minimal journal records (for start-up replay)."""
    sql = (
        f"SELECT device_id, seq, event, toUnixTimestamp64Milli(received_at), key_id FROM {database}.events "
        "WHERE kind = 'key_rotation' ORDER BY received_at, device_id, seq"
    )
    rows = client.query(sql, column_formats={"event": "bytes"}).result_rows
    return [
        pb.JournalRecord(
            envelope=pb.Envelope(device_id=str(r[0]), seq=int(r[1]), event=bytes(r[2]), key_id=str(r[4])),
            received_ms=int(r[3]),
            accepted=True,
        )
        for r in rows
    ]


async def save_devices(storage: Storage, devices: list[Device]) -> None:
    """Write new device versions; a failure is logged, not raised (start-up replay repairs it)."""
    for device in devices:
        try:
            await storage.run(lambda c, d=device: save_device(c, storage.database, d))  # type: ignore[misc]
        except Exception as exc:  # the journal holds the rotation; replay restores it
            log.warning("could not store the rotated key of a device yet: %s", type(exc).__name__)


async def refresh_forever(storage: Storage, registry: DeviceRegistry, interval_s: float) -> None:
    """Re-read the devices table every interval_s, so revocations made on other nodes apply here."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            devices = await storage.run(lambda c: load_devices(c, storage.database))
        except Exception as exc:  # keep serving with what we know
            log.warning("device registry refresh failed: %s", type(exc).__name__)
            continue
        for device in devices:
            registry.put(device)


def flag_signed_after(client: Any, database: str, device_id: str, from_seq: int, now_ms: int) -> int:
    """Insert a signed_after_compromise anomaly for each stored event of device_id with seq >= from_seq."""
    params = {"device_id": device_id, "from_seq": from_seq}
    where = "device_id = {device_id:String} AND seq >= {from_seq:UInt64}"
    count = int(
        client.query(f"SELECT count() FROM {database}.events WHERE {where}", parameters=params).result_rows[
            0
        ][0]
    )
    if count:
        client.command(
            f"INSERT INTO {database}.anomalies (kind, detected_at, event_time, seller_tin, store_id, "
            "device_id, seq, accepted, line, cis, detail) "
            f"SELECT '{SIGNED_AFTER_COMPROMISE}', fromUnixTimestamp64Milli({int(now_ms)}, 'UTC'), "
            "event_time, "
            "seller_tin, store_id, device_id, seq, true, 0, '', "
            f"'signed by a key revoked as compromised from seq {int(from_seq)} on' "
            f"FROM {database}.events WHERE {where}",
            parameters=params,
        )
    return count

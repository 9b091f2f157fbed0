"""Device keys over time: rotation (signed by the old key), registry refresh, revocation from a seq on.

A `KeyRotation` event is signed by the device's current key; once the chain has accepted it, the chain
continues under the new key (rotation_key refuses one to no valid key, or to a key the device had
revoked). The registry is updated in memory at once, a new version of the devices row and a device_keys
row are written before the ack (so other nodes see them at their next refresh), and at start-up every
accepted rotation still in the journal or in `events` is applied again, so a node that missed the row
write still knows the new key, and every key a rotation named joins the key history. A rotation applies
only to the key that signed it, so replays are idempotent; a rotated device's `updated_ms` is the
rotation's receive time, so an operator's later revoke or new key (newer) always wins.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from gateway import errors
from gateway.devices import Device, DeviceRegistry, KnownKey
from gateway.errors import EnvelopeRejected
from gateway.storage.client import Storage
from gateway.storage.device_store import load_device_keys, load_devices, save_device
from gateway.wire import pb, signing
from gateway.wire.rotation import new_key_of, rotation_in

log = logging.getLogger(__name__)
SIGNED_AFTER_COMPROMISE = "signed_after_compromise"


def rotation_key(
    registry: DeviceRegistry, device_id: str, rotation: pb.KeyRotation | None
) -> tuple[ec.EllipticCurvePublicKey, str] | None:
    """The key an accepted rotation hands the chain to (None: not a rotation); raises EnvelopeRejected for
    a rotation that could not take effect: to no valid P-256 key, or to a key this device had revoked."""
    if rotation is None:
        return None
    new = new_key_of(rotation)
    if new is None:
        raise EnvelopeRejected(
            errors.INVALID_ROTATION, "the key rotation names no valid P-256 key (or a key id that is not its)"
        )
    if registry.is_revoked(device_id, new[1]):
        raise EnvelopeRejected(
            errors.DEVICE_REVOKED, "the key rotation names a key this device had revoked: it never comes back"
        )
    return new


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
    new = rotated(device, rotation, at_ms) if rotation is not None and device is not None else None
    if device is None or new is None:
        return None
    # Every key an accepted rotation named joins the key history, moved to or not: the devices row names
    # only the newest key, and a resend signed by an older one may still come (pipeline: resends).
    registry.put_key(device.device_id, KnownKey(new.key_id, new.public_key_pem))
    if device.key_id != envelope.key_id or device.updated_ms > at_ms or new.key_id == device.key_id:
        return None
    # A rotation to a revoked key is refused at ingest; one stored before that rule changes nothing.
    if registry.is_revoked(device.device_id, new.key_id):
        return None
    registry.put(new)
    return new


def apply_key_rotations(registry: DeviceRegistry, accepted: Iterable[pb.JournalRecord]) -> list[Device]:
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
            keys = await storage.run(lambda c: load_device_keys(c, storage.database))
        except Exception as exc:  # keep serving with what we know
            log.warning("device registry refresh failed: %s", type(exc).__name__)
            continue
        for device_id, key in keys:  # revocations first: a device row may name a key revoked since
            registry.put_key(device_id, key)
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

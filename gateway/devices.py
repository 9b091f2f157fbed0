"""The device registry: who may send, under which keys; kept in ClickHouse, served from memory.

Besides each device's current key, the registry keeps every key a device has had (`KnownKey`): a key
once revoked stays revoked for good (no registration, rotation or replay brings it back), and a key
rotated away can still check a resend of what it signed before the rotation.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace

from cryptography.hazmat.primitives.asymmetric import ec

from gateway import errors
from gateway.errors import GatewayError
from gateway.wire import signing

ACTIVE = "active"
REVOKED = "revoked"
TRACEGATE = "tracegate"  # the register speaks our contract (proto/tracegate/v1) and signs its events
OFD = "ofd"  # the register speaks OFD 2.0.2/2.0.3; the gateway signs its events (gateway/ofd)
_TIN = re.compile(r"^\d{12}$")


@dataclass(frozen=True)
class OfdIdentity:
    """How an OFD register is known: the ID in its frames' header, its tax authority registration number,
    and the token it was configured with (only a keyed MAC of it: gateway/ofd/keys.py)."""

    ofd_id: int
    kgd_number: str
    token_mac: str
    key_epoch: int = 0  # which of its gateway-held keys signs: a new one after each revocation


@dataclass(frozen=True)
class Device:
    """One registered cash register and its current public key."""

    device_id: str
    seller_tin: str
    store_id: str
    public_key_pem: str
    key_id: str
    status: str = ACTIVE
    updated_ms: int = 0
    ofd: OfdIdentity | None = None  # set for an OFD register, whose key the gateway holds

    @property
    def active(self) -> bool:
        """True if the device may send."""
        return self.status == ACTIVE

    @property
    def protocol(self) -> str:
        """tracegate or ofd: which front door the register uses."""
        return TRACEGATE if self.ofd is None else OFD

    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The parsed P-256 key."""
        return signing.load_public_key_pem(self.public_key_pem)


def new_device(device_id: str, seller_tin: str, store_id: str, public_key_pem: str) -> Device:
    """Validate a registration (12-digit TIN, P-256 key …) into an active Device; raises malformed_request."""
    device_id, seller_tin, store_id = device_id.strip(), seller_tin.strip(), store_id.strip()
    if not device_id or len(device_id.encode()) > signing.MAX_DEVICE_ID_BYTES:
        raise GatewayError(errors.MALFORMED_REQUEST, "device_id must be 1 to 64 bytes")
    if not _TIN.match(seller_tin):
        raise GatewayError(errors.MALFORMED_REQUEST, "seller_tin must be a 12-digit BIN/IIN")
    if not store_id or len(store_id) > 128:
        raise GatewayError(errors.MALFORMED_REQUEST, "store_id must be 1 to 128 characters")
    try:
        key = signing.load_public_key_pem(public_key_pem)
    except ValueError:
        raise GatewayError(errors.MALFORMED_REQUEST, "public_key_pem is not a PEM P-256 public key") from None
    return Device(
        device_id=device_id,
        seller_tin=seller_tin,
        store_id=store_id,
        public_key_pem=signing.public_key_pem(key),
        key_id=signing.key_id_of(key),
        status=ACTIVE,
        updated_ms=int(time.time() * 1000),
    )


@dataclass(frozen=True)
class KnownKey:
    """A key a device has had: its id, its PEM ('' when only the id is known) and whether it was revoked."""

    key_id: str
    public_key_pem: str
    revoked: bool = False

    def merged(self, other: KnownKey) -> KnownKey:
        """What two reports of one key say together: once revoked, revoked for good."""
        pem = self.public_key_pem or other.public_key_pem
        return KnownKey(self.key_id, pem, self.revoked or other.revoked)


def registration_decision(
    existing: Device | None, device: Device, revoked_keys: frozenset[str] = frozenset()
) -> Device | None:
    """What registering `device` does: the Device to save, None if it is registered already as asked.

    A revoked device may be registered again under a NEW key (the operator's answer to a compromised
    key: the chain goes on under the new key). An active device changes keys only by a signed KeyRotation
    event, a revoked key (revoked_keys: every key of this device ever revoked) never comes back, and a
    register never changes seller this way.
    """
    if device.key_id in revoked_keys:
        raise GatewayError(errors.CONFLICT, f"this key of {device.device_id} was revoked; use a new key")
    if existing is None:
        return device
    if existing.seller_tin != device.seller_tin:
        raise GatewayError(errors.CONFLICT, f"device {device.device_id} belongs to another seller")
    if existing.protocol != device.protocol:
        raise GatewayError(errors.CONFLICT, f"device {device.device_id} is registered as a "
                                            f"{existing.protocol} register")
    if existing.active:
        if existing.key_id == device.key_id and existing.ofd == device.ofd:
            return None
        if existing.ofd is not None:
            raise GatewayError(
                errors.CONFLICT,
                f"OFD register {device.device_id} is registered with other OFD ids or another token: set a "
                "new token with `tracegate devices ofd-token`, or revoke it first",
            )
        raise GatewayError(
            errors.CONFLICT,
            f"device {device.device_id} is active under another key: rotate it with a KeyRotation event, "
            "or revoke it first",
        )
    if existing.key_id == device.key_id:
        raise GatewayError(errors.CONFLICT, f"this key of {device.device_id} was revoked; use a new key")
    return replace(device, status=ACTIVE, updated_ms=max(device.updated_ms, existing.updated_ms + 1))


def revoked(device: Device) -> Device:
    """The same device, revoked now."""
    return replace(device, status=REVOKED, updated_ms=max(int(time.time() * 1000), device.updated_ms + 1))


class DeviceRegistry:
    """In-memory view of the devices and device_keys tables; ingest lookups never touch storage."""

    def __init__(self, devices: list[Device] | None = None) -> None:
        self._devices: dict[str, Device] = {}
        self._keys: dict[str, ec.EllipticCurvePublicKey] = {}
        self._history: dict[str, dict[str, KnownKey]] = {}
        self._by_ofd_id: dict[int, str] = {}
        self._by_kgd_number: dict[str, str] = {}
        for device in devices or []:
            self.put(device)

    def put(self, device: Device) -> None:
        """Add or replace a device (newer updated_ms wins); its key joins the history either way."""
        self.put_key(
            device.device_id, KnownKey(device.key_id, device.public_key_pem, device.status == REVOKED)
        )
        current = self._devices.get(device.device_id)
        if current is not None and current.updated_ms > device.updated_ms:
            return
        self._devices[device.device_id] = device
        self._keys[device.device_id] = device.public_key()
        if current is not None and current.ofd is not None:
            self._by_ofd_id.pop(current.ofd.ofd_id, None)
            self._by_kgd_number.pop(current.ofd.kgd_number, None)
        if device.ofd is not None:
            self._by_ofd_id[device.ofd.ofd_id] = device.device_id
            self._by_kgd_number[device.ofd.kgd_number] = device.device_id

    def put_key(self, device_id: str, key: KnownKey) -> None:
        """Learn of a key of a device (revocations are never forgotten)."""
        keys = self._history.setdefault(device_id, {})
        known = keys.get(key.key_id)
        keys[key.key_id] = key if known is None else known.merged(key)

    def revoked_keys(self, device_id: str) -> frozenset[str]:
        """Ids of every key of this device that was ever revoked."""
        return frozenset(k.key_id for k in self._history.get(device_id, {}).values() if k.revoked)

    def is_revoked(self, device_id: str, key_id: str) -> bool:
        """Whether this key of this device was ever revoked."""
        known = self._history.get(device_id, {}).get(key_id)
        return known is not None and known.revoked

    def known_key(self, device_id: str, key_id: str) -> ec.EllipticCurvePublicKey | None:
        """A key this device has had (current, rotated away or revoked), if its PEM is known."""
        known = self._history.get(device_id, {}).get(key_id)
        if known is None or not known.public_key_pem:
            return None
        return signing.load_public_key_pem(known.public_key_pem)

    def history(self, device_id: str) -> list[KnownKey]:
        """Every key this device is known to have had, by id."""
        return sorted(self._history.get(device_id, {}).values(), key=lambda k: k.key_id)

    def get(self, device_id: str) -> Device | None:
        """The device, or None if unknown."""
        return self._devices.get(device_id)

    def by_ofd_id(self, ofd_id: int) -> Device | None:
        """The OFD register with this OFD id (its frames' header ID), or None."""
        device_id = self._by_ofd_id.get(ofd_id)
        return None if device_id is None else self._devices.get(device_id)

    def by_kgd_number(self, kgd_number: str) -> Device | None:
        """The OFD register with this tax authority registration number, or None."""
        device_id = self._by_kgd_number.get(kgd_number)
        return None if device_id is None else self._devices.get(device_id)

    def key(self, device_id: str) -> ec.EllipticCurvePublicKey | None:
        """The device's parsed public key (cached), or None if unknown."""
        return self._keys.get(device_id)

    def all(self) -> list[Device]:
        """Every device, sorted by id."""
        return sorted(self._devices.values(), key=lambda d: d.device_id)

    def __len__(self) -> int:
        return len(self._devices)

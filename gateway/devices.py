"""The device registry: who may send, under which keys; kept in ClickHouse, served from memory."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.wire import signing

ACTIVE = "active"
REVOKED = "revoked"


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

    @property
    def active(self) -> bool:
        """True if the device may send."""
        return self.status == ACTIVE

    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The parsed P-256 key."""
        return signing.load_public_key_pem(self.public_key_pem)


class DeviceRegistry:
    """In-memory view of the devices table; lookups on the ingest path never touch storage."""

    def __init__(self, devices: list[Device] | None = None) -> None:
        self._devices: dict[str, Device] = {}
        self._keys: dict[str, ec.EllipticCurvePublicKey] = {}
        for device in devices or []:
            self.put(device)

    def put(self, device: Device) -> None:
        """Add or replace a device (newer updated_ms wins)."""
        current = self._devices.get(device.device_id)
        if current is not None and current.updated_ms > device.updated_ms:
            return
        self._devices[device.device_id] = device
        self._keys[device.device_id] = device.public_key()

    def get(self, device_id: str) -> Device | None:
        """The device, or None if unknown."""
        return self._devices.get(device_id)

    def key(self, device_id: str) -> ec.EllipticCurvePublicKey | None:
        """The device's parsed public key (cached), or None if unknown."""
        return self._keys.get(device_id)

    def all(self) -> list[Device]:
        """Every device, sorted by id."""
        return sorted(self._devices.values(), key=lambda d: d.device_id)

    def __len__(self) -> int:
        return len(self._devices)

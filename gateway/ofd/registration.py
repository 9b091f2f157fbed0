"""Registering an OFD register: its OFD id, KGD number and token; its key is the gateway's to hold.

An OFD register signs nothing, so the operator gives no key: the gateway derives one for it
(gateway/ofd/keys.py) and registers its public key, so the chain, journal and tables treat the register's
events like any other. The token the register was configured with (or one made here, shown once) is kept
only as a keyed MAC; a new one is set with `tracegate devices ofd-token` after a register was reset.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from gateway import errors
from gateway.devices import Device, DeviceRegistry, OfdIdentity, new_device, registration_decision
from gateway.errors import GatewayError
from gateway.ofd.keys import OfdKeys
from gateway.wire import signing

MAX_U32 = 0xFFFF_FFFF
_KGD_NUMBER = re.compile(r"^\d{12}$")


@dataclass(frozen=True)
class OfdRegistration:
    """What the operator says about an OFD register (`devices add --protocol ofd`)."""

    device_id: str
    seller_tin: str
    store_id: str
    ofd_id: int
    kgd_number: str
    token: int | None  # None: make one (shown once)


def _u32(value: Any, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise GatewayError(errors.MALFORMED_REQUEST, f"{name} must be a whole number") from None
    if isinstance(value, bool) or not 1 <= number <= MAX_U32:
        raise GatewayError(errors.MALFORMED_REQUEST, f"{name} must be 1 to {MAX_U32}")
    return number


def parse_token(value: Any) -> int:
    """A register's TOKEN: 1 to 2^32-1 (0 is no token); raises malformed_request."""
    return _u32(value, "ofd_token")


def parse_registration(body: Mapping[str, Any]) -> OfdRegistration:
    """An add-device body with protocol ofd, validated; raises malformed_request with what is wrong."""
    strings = {k: body.get(k) for k in ("device_id", "seller_tin", "store_id", "kgd_number")}
    missing = [k for k, v in strings.items() if not isinstance(v, str) or not v.strip()]
    if body.get("ofd_id") in (None, ""):
        missing.append("ofd_id")
    if missing:
        raise GatewayError(errors.MALFORMED_REQUEST, f"missing or empty: {', '.join(missing)}")
    kgd_number = str(body["kgd_number"]).strip()
    if not _KGD_NUMBER.match(kgd_number):
        raise GatewayError(errors.MALFORMED_REQUEST, "kgd_number must be the 12-digit KGD registration no.")
    token = body.get("ofd_token")
    return OfdRegistration(
        str(body["device_id"]).strip(), str(body["seller_tin"]).strip(), str(body["store_id"]).strip(),
        _u32(body["ofd_id"], "ofd_id"), kgd_number, None if token in (None, "") else parse_token(token),
    )


def new_token() -> int:
    """A fresh random TOKEN (never 0, which means none)."""
    return secrets.randbelow(MAX_U32) + 1


def ofd_device(registration: OfdRegistration, token: int, keys: OfdKeys, epoch: int) -> Device:
    """The Device of an OFD register: its gateway-held key's public half, its OFD identity."""
    public = keys.register_key(registration.device_id, epoch).public_key()
    device = new_device(
        registration.device_id, registration.seller_tin, registration.store_id, signing.public_key_pem(public)
    )
    identity = OfdIdentity(
        registration.ofd_id, registration.kgd_number, keys.token_mac(registration.ofd_id, token), epoch
    )
    return replace(device, ofd=identity)


def register(
    registry: DeviceRegistry, registration: OfdRegistration, keys: OfdKeys
) -> tuple[Device | None, Device, int | None]:
    """(the Device to save or None if registered already as asked, the register as it stands, the token
    made for it or None); raises conflict when its OFD id or KGD number belong to another register."""
    existing = registry.get(registration.device_id)
    for other, what in (
        (registry.by_ofd_id(registration.ofd_id), f"OFD id {registration.ofd_id}"),
        (registry.by_kgd_number(registration.kgd_number), f"KGD number {registration.kgd_number}"),
    ):
        if other is not None and other.device_id != registration.device_id:
            raise GatewayError(errors.CONFLICT, f"{what} belongs to register {other.device_id}")
    made, token = None, registration.token
    if token is None:
        token = made = new_token()
    # A revoked register comes back under the next key: a revoked key never signs again.
    epoch = 0
    if existing is not None and existing.ofd is not None:
        epoch = existing.ofd.key_epoch + (0 if existing.active else 1)
    device = ofd_device(registration, token, keys, epoch)
    to_save = registration_decision(existing, device, registry.revoked_keys(registration.device_id))
    if to_save is None:
        assert existing is not None
        return None, existing, None
    return to_save, to_save, made


def with_token(device: Device, token: int, keys: OfdKeys) -> Device:
    """A new version of an OFD register whose token the operator set anew (the register was reset): it
    outranks the exchanges before it, so the register's next request must come with this token."""
    if device.ofd is None:
        raise GatewayError(errors.CONFLICT, f"device {device.device_id} is not an OFD register")
    identity = replace(device.ofd, token_mac=keys.token_mac(device.ofd.ofd_id, token))
    return replace(device, ofd=identity, updated_ms=max(int(time.time() * 1000), device.updated_ms + 1))


def registration_json(device: Device, token: int | None = None) -> dict[str, Any]:
    """The OFD part of a device's public view (and a token made for it, shown once)."""
    out: dict[str, Any] = {"protocol": device.protocol}
    if device.ofd is not None:
        out.update(ofd_id=device.ofd.ofd_id, kgd_number=device.ofd.kgd_number)
    if token is not None:
        out["ofd_token"] = token
    return out

"""The KeyRotation rule of the wire contract: which key an authentic rotation hands the chain over to."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf.message import DecodeError

from gateway.wire import pb, signing


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

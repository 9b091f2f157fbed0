"""Signing preimage, chain hash, genesis value and ES256 keys (P-256, raw r||s), per proto/README.md."""

from __future__ import annotations

import hashlib
import struct

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

EVENT_TAG = b"TRACEGATE-EVENT-V1\x00"
GENESIS_TAG = b"TRACEGATE-GENESIS-V1\x00"
CODE_CHECK_TAG = b"TRACEGATE-CODECHECK-V1\x00"
HASH_LEN = 32
SIGNATURE_LEN = 64
MAX_DEVICE_ID_BYTES = 64

_ECDSA = ec.ECDSA(hashes.SHA256())


def _device_field(device_id: str) -> bytes:
    raw = device_id.encode("utf-8")
    if not raw or len(raw) > MAX_DEVICE_ID_BYTES:
        raise ValueError(f"device id must be 1..{MAX_DEVICE_ID_BYTES} bytes of UTF-8")
    return struct.pack(">H", len(raw)) + raw


def genesis_hash(device_id: str) -> bytes:
    """The prev_hash of a device's first envelope (seq 1)."""
    return hashlib.sha256(GENESIS_TAG + _device_field(device_id)).digest()


def event_preimage(device_id: str, seq: int, prev_hash: bytes, event_bytes: bytes) -> bytes:
    """The exact bytes a device signs for one envelope."""
    return digest_preimage(device_id, seq, prev_hash, hashlib.sha256(event_bytes).digest())


def digest_preimage(device_id: str, seq: int, prev_hash: bytes, event_sha256: bytes) -> bytes:
    """The same preimage from the SHA-256 of the event bytes (all it needs of them)."""
    if len(prev_hash) != HASH_LEN:
        raise ValueError("prev_hash must be 32 bytes")
    return EVENT_TAG + _device_field(device_id) + struct.pack(">Q", seq) + prev_hash + event_sha256


def envelope_hash(preimage: bytes) -> bytes:
    """The chain hash of an envelope: SHA-256 of its preimage; the next envelope's prev_hash."""
    return hashlib.sha256(preimage).digest()


def code_check_preimage(device_id: str, body: bytes) -> bytes:
    """The exact bytes a device signs for a pre-sale code check request."""
    return CODE_CHECK_TAG + _device_field(device_id) + hashlib.sha256(body).digest()


def public_key_bytes(key: ec.EllipticCurvePublicKey) -> bytes:
    """SEC1 uncompressed point (65 bytes)."""
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def key_id_of(key: ec.EllipticCurvePublicKey) -> str:
    """A key's id: hex of the first 8 bytes of SHA-256 of its SEC1 uncompressed point."""
    return hashlib.sha256(public_key_bytes(key)).hexdigest()[:16]


def load_public_key_pem(pem: str | bytes) -> ec.EllipticCurvePublicKey:
    """Parse a PEM SubjectPublicKeyInfo; only P-256 keys are accepted."""
    data = pem.encode() if isinstance(pem, str) else pem
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("public key must be an ECDSA P-256 key")
    return key


def load_public_key_point(point: bytes) -> ec.EllipticCurvePublicKey:
    """Parse a SEC1 uncompressed P-256 point (as carried by a KeyRotation event)."""
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)


def public_key_pem(key: ec.EllipticCurvePublicKey) -> str:
    """PEM SubjectPublicKeyInfo text of a public key."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def new_private_key() -> ec.EllipticCurvePrivateKey:
    """A fresh P-256 key, as a register's secure element would make."""
    return ec.generate_private_key(ec.SECP256R1())


def sign(key: ec.EllipticCurvePrivateKey, preimage: bytes) -> bytes:
    """ES256 signature of preimage, raw 64-byte r||s."""
    r, s = decode_dss_signature(key.sign(preimage, _ECDSA))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def verify_signature(key: ec.EllipticCurvePublicKey, preimage: bytes, signature: bytes) -> bool:
    """True if signature (raw r||s) is a valid ES256 signature of preimage under key."""
    if len(signature) != SIGNATURE_LEN:
        return False
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        key.verify(der, preimage, _ECDSA)
    except InvalidSignature:
        return False
    return True

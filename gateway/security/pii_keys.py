"""The operator's key ring for buyer personal data: AES-256-GCM keys by id, and one HMAC key for lookups.

Format (a file, 0600, or the same JSON in TRACEGATE_PII_KEYS):
``{"current": "k2", "keys": {"k1": "<base64 32 bytes>", "k2": "…"}, "hash_key": "<base64 32 bytes>"}``.
New data is sealed under `current`; older keys stay to open what they sealed, so keys rotate by adding
one and changing `current`. The hash key does not rotate: lookups (`pii forget`) need stable hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.settings import Settings

NONCE_BYTES = 12


class PiiKeyError(Exception):
    """The key ring is missing, malformed, or cannot open a ciphertext (text never contains key material)."""


@dataclass(frozen=True)
class PiiKeyRing:
    """AES-GCM keys by id, the id new data is sealed under, and the lookup-hash key."""

    keys: dict[str, bytes]
    current: str
    hash_key: bytes

    @classmethod
    def generate(cls) -> PiiKeyRing:
        """A fresh ring with one key."""
        key_id = "k" + secrets.token_hex(4)
        return cls({key_id: AESGCM.generate_key(256)}, key_id, secrets.token_bytes(32))

    @classmethod
    def from_json(cls, text: str) -> PiiKeyRing:
        """Parse the documented JSON form; raises PiiKeyError without echoing the text."""
        try:
            raw = json.loads(text)
            keys = {str(k): base64.b64decode(v, validate=True) for k, v in raw["keys"].items()}
            ring = cls(keys, str(raw["current"]), base64.b64decode(raw["hash_key"], validate=True))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise PiiKeyError("the PII key ring is not valid JSON of the documented form") from None
        if ring.current not in keys or any(len(k) != 32 for k in keys.values()) or len(ring.hash_key) < 32:
            raise PiiKeyError(
                "the PII key ring needs 32-byte keys, a current key id among them and a hash key"
            )
        return ring

    def to_json(self) -> str:
        """The documented JSON form."""
        return json.dumps(
            {
                "current": self.current,
                "keys": {k: base64.b64encode(v).decode() for k, v in self.keys.items()},
                "hash_key": base64.b64encode(self.hash_key).decode(),
            }
        )

    def seal(self, plaintext: bytes, aad: bytes) -> tuple[str, bytes]:
        """Encrypt under the current key: (key id, nonce || ciphertext+tag)."""
        return self.current, seal_with(self.keys[self.current], plaintext, aad)

    def open(self, key_id: str, blob: bytes, aad: bytes) -> bytes:
        """Decrypt what seal() made; raises PiiKeyError if the key is gone or the data was altered."""
        key = self.keys.get(key_id)
        if key is None:
            raise PiiKeyError("no key with this id in the PII key ring")
        return open_with(key, blob, aad)

    def lookup_hash(self, kind: str, value: str) -> str:
        """Keyed hash (HMAC-SHA256, hex) of a normalized contact, for finding a person's rows."""
        normalized = normalize(kind, value)
        if not normalized:
            return ""
        return hmac.new(self.hash_key, f"{kind}:{normalized}".encode(), hashlib.sha256).hexdigest()


def seal_with(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """AES-GCM with a random nonce: nonce || ciphertext+tag."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_with(key: bytes, blob: bytes, aad: bytes) -> bytes:
    """Inverse of seal_with; raises PiiKeyError on any tampering."""
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except Exception:
        raise PiiKeyError("the ciphertext does not open under this key") from None


def normalize(kind: str, value: str) -> str:
    """One spelling per person: e-mail lowercased, phone and IIN digits only (KZ 8… becomes 7…)."""
    value = value.strip()
    if kind == "email":
        return value.lower()
    digits = re.sub(r"\D", "", value)
    if kind == "phone" and len(digits) == 11 and digits.startswith("8"):
        digits = "7" + digits[1:]
    return digits


def key_file_path(settings: Settings) -> Path:
    """Where the key ring file is (setting pii_key_file, default <data>/pii.keys)."""
    return Path(settings.pii_key_file) if settings.pii_key_file else settings.data_dir / "pii.keys"


def load_key_ring(settings: Settings, *, create: bool = True) -> PiiKeyRing:
    """The ring from TRACEGATE_PII_KEYS, else from the key file (made 0600 on first use if create)."""
    if settings.pii_keys:
        return PiiKeyRing.from_json(settings.pii_keys)
    path = key_file_path(settings)
    if not path.exists():
        if not create:
            raise PiiKeyError(f"no PII key ring at {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        ring = PiiKeyRing.generate()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return PiiKeyRing.from_json(path.read_text())  # another process made it first
        with os.fdopen(fd, "w") as f:
            f.write(ring.to_json() + "\n")
            f.flush()
            os.fsync(f.fileno())  # sealed buyer data is unreadable for ever without this file
        return ring
    return PiiKeyRing.from_json(path.read_text())

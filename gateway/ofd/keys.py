"""The gateway's OFD secrets, derived from one master key file (ofd.key in the data directory).

Like fiscal.key, the file is made on first use (32 random bytes, mode 0600) and every node of one
installation must hold the same copy. From it, with HKDF-SHA256 under distinct labels:

- each OFD register's P-256 signing key (label + device id + key epoch): the gateway signs the events it
  makes for the register with it, and its public key is the register's key in the device registry, so no
  private key is ever stored in ClickHouse; a re-registration after a revocation takes the next epoch;
- the token MAC key: the devices table keeps HMAC(token), never a register's token;
- the exchange sealing key (AES-256-GCM): a register's last exchange carries its current token, so the
  journal record's copy that goes to ClickHouse (ofd_exchanges.sealed) is sealed.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections import OrderedDict
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gateway.ingest.fiscal_sign import load_or_create_secret

MASTER_BYTES = 32
NONCE_BYTES = 12
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_REGISTER_LABEL = b"tracegate-ofd-register-key-v1\x00"
_CACHED_KEYS = 65_536  # registers' keys kept derived (one P-256 point multiplication each)


def _derive(master: bytes, info: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(master)


class OfdKeys:
    """Derives and uses the OFD keys of one installation (see the module docstring)."""

    def __init__(self, master: bytes) -> None:
        if len(master) != MASTER_BYTES:
            raise ValueError(f"the OFD master key is {MASTER_BYTES} bytes")
        self._master = master
        self._token_key = _derive(master, b"tracegate-ofd-token-mac-v1")
        self._seal = AESGCM(_derive(master, b"tracegate-ofd-exchange-seal-v1"))
        self._register_keys: OrderedDict[tuple[str, int], ec.EllipticCurvePrivateKey] = OrderedDict()

    @classmethod
    def load_or_create(cls, path: Path) -> OfdKeys:
        """The installation's keys from its master key file, made if missing."""
        return cls(load_or_create_secret(path, MASTER_BYTES))

    def register_key(self, device_id: str, epoch: int) -> ec.EllipticCurvePrivateKey:
        """The P-256 key that signs the events of this OFD register (at this key epoch)."""
        cache_key = (device_id, epoch)
        key = self._register_keys.get(cache_key)
        if key is not None:
            self._register_keys.move_to_end(cache_key)
            return key
        raw = device_id.encode("utf-8")
        info = _REGISTER_LABEL + struct.pack(">H", len(raw)) + raw + struct.pack(">I", epoch)
        # 48 bytes reduced modulo the group order: the bias (2^-128) is negligible (FIPS 186-5 A.2.1).
        scalar = int.from_bytes(_derive(self._master, info, 48), "big") % (_P256_ORDER - 1) + 1
        key = ec.derive_private_key(scalar, ec.SECP256R1())
        self._register_keys[cache_key] = key
        if len(self._register_keys) > _CACHED_KEYS:
            self._register_keys.popitem(last=False)
        return key

    def token_mac(self, ofd_id: int, token: int) -> str:
        """What the devices table keeps of a register's token: a keyed MAC, hex."""
        message = b"ofd-token:" + struct.pack(">II", ofd_id, token)
        return hmac.new(self._token_key, message, hashlib.sha256).hexdigest()[:32]

    def token_matches(self, ofd_id: int, token: int, token_mac: str) -> bool:
        """True if token is the one whose MAC the registry keeps."""
        return hmac.compare_digest(self.token_mac(ofd_id, token), token_mac)

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        """nonce ‖ AES-GCM(plaintext), bound to context (associated data)."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._seal.encrypt(nonce, plaintext, context)

    def open(self, sealed: bytes, context: bytes) -> bytes:
        """The plaintext of seal(); raises cryptography's InvalidTag if it was not sealed so."""
        return self._seal.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context)

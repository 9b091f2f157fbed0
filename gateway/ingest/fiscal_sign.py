"""The gateway's fiscal sign: a deterministic, printable HMAC over (device, seq, envelope hash, event time).

Preimage, byte by byte (all integers big-endian):

    b"TRACEGATE-FISCAL-V1\\x00"          domain tag (20 bytes)
    u16 length + device id (UTF-8)
    u64 seq
    32 bytes envelope hash             (SHA-256 of the envelope's signing preimage)
    i64 event time, ms UTC             (the device's own time of the event)

sign = first 80 bits of HMAC-SHA256(key, preimage), as 16 characters of Crockford base32 in four groups
of four (``7K3M-Q9XA-0ZT4-HHB2``): short enough to print on a receipt, long enough that guessing one is
hopeless. Being deterministic, a resent envelope gets the same sign without any lookup.

An OFD register (gateway/ofd) prints its receipts' fiscal number as digits, so the events the gateway
makes for it get a numeric sign instead: the same preimage under the tag ``TRACEGATE-FISCAL-NUM-V1\x00``,
the first 64 bits of the HMAC taken modulo 9·10⁹, plus 10⁹: ten digits, never a leading zero
(``4228143549``). About 33 bits: not to be guessed blindly, and the consumer check it goes with also
needs the receipt's register, total and time.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import struct
from collections.abc import Callable
from pathlib import Path

FISCAL_TAG = b"TRACEGATE-FISCAL-V1\x00"
NUMERIC_TAG = b"TRACEGATE-FISCAL-NUM-V1\x00"
NUMERIC_DIGITS = 10
KEY_BYTES = 32
SIGN_BITS = 80
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
# Crockford decoding is forgiving of what people misread on paper.
_READ_AS = str.maketrans({"I": "1", "L": "1", "O": "0", "-": None, " ": None})
# Every 10-bit value as its two characters: a sign is 8 table reads (a quarter of the 16-step loop's cost).
_PAIRS = [first + second for first in _ALPHABET for second in _ALPHABET]
_FIELD = struct.Struct(">H")
_SEQ = struct.Struct(">Q")
_TIME = struct.Struct(">q")


def _printable(value: int) -> str:
    """80 bits, most significant first, as 16 base32 characters in four groups of four."""
    pairs = _PAIRS
    return (
        f"{pairs[value >> 70]}{pairs[value >> 60 & 1023]}-"
        f"{pairs[value >> 50 & 1023]}{pairs[value >> 40 & 1023]}-"
        f"{pairs[value >> 30 & 1023]}{pairs[value >> 20 & 1023]}-"
        f"{pairs[value >> 10 & 1023]}{pairs[value & 1023]}"
    )


def fiscal_preimage(
    device_id: str, seq: int, envelope_hash: bytes, event_time_ms: int, tag: bytes = FISCAL_TAG
) -> bytes:
    """The exact bytes the fiscal sign is computed over (see the module docstring)."""
    raw = device_id.encode("utf-8")
    return tag + _FIELD.pack(len(raw)) + raw + _SEQ.pack(seq) + envelope_hash + _TIME.pack(event_time_ms)


def normalise_sign(text: str) -> str:
    """A sign as typed by a person (any case, dashes, I/L/O confusions) in its canonical 16-char form."""
    return text.upper().translate(_READ_AS)


class FiscalSigner:
    """Makes and checks fiscal signs with the installation's secret key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("fiscal key must be at least 16 bytes")
        self._key = key
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)

    def sign(self, device_id: str, seq: int, envelope_hash: bytes, event_time_ms: int) -> str:
        """The printable fiscal sign of one accepted envelope."""
        # A copy of the keyed HMAC: no re-keying per sign. Not hmac.digest(): its one-shot C call releases
        # the GIL, and getting it back behind the gateway's other threads cost ~100 µs a sign under load.
        mac = self._keyed.copy()
        mac.update(fiscal_preimage(device_id, seq, envelope_hash, event_time_ms))
        return _printable(int.from_bytes(mac.digest()[: SIGN_BITS // 8], "big"))

    def ticket_number(self, device_id: str, seq: int, envelope_hash: bytes, event_time_ms: int) -> str:
        """The numeric fiscal sign of an event made for an OFD register: ten digits (module docstring)."""
        mac = self._keyed.copy()
        mac.update(fiscal_preimage(device_id, seq, envelope_hash, event_time_ms, NUMERIC_TAG))
        value = int.from_bytes(mac.digest()[:8], "big") % (9 * 10 ** (NUMERIC_DIGITS - 1))
        return str(10 ** (NUMERIC_DIGITS - 1) + value)

    def verify(self, device_id: str, seq: int, envelope_hash: bytes, event_time_ms: int, sign: str) -> bool:
        """True if sign is the fiscal sign of these facts (accepts lower case, missing dashes, I/L/O), in
        either form: the printable one, or the ten digits of an OFD register's receipt."""
        given = sign.strip()
        if len(given) == NUMERIC_DIGITS and given.isdigit():
            expected = self.ticket_number(device_id, seq, envelope_hash, event_time_ms)
            return hmac.compare_digest(expected, given)
        expected = normalise_sign(self.sign(device_id, seq, envelope_hash, event_time_ms))
        return hmac.compare_digest(expected, normalise_sign(sign))

    @classmethod
    def load_or_create(cls, path: Path) -> FiscalSigner:
        """Load the key file, or create a fresh 32-byte key (mode 0600) if there is none."""
        return cls(load_or_create_secret(path, KEY_BYTES))


def load_or_create_secret(path: Path, size: int) -> bytes:
    """The secret in path, made of `size` random bytes (mode 0600) if the file does not exist yet.

    Every node of an installation must hold the same file (copy it when adding one), so signs made on one
    verify on another.
    """
    create_key_file(path, lambda: os.urandom(size))
    secret = path.read_bytes()
    if len(secret) != size:
        raise ValueError(f"{path}: this key file holds exactly {size} bytes")
    return secret


def create_key_file(path: Path, make: Callable[[], bytes]) -> None:
    """Write a new secret key file (mode 0600, fsynced) with make()'s bytes, unless path exists already."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, make())
        os.fsync(fd)
    finally:
        os.close(fd)
    # link() fails if another process won the race: then both use the winner's key.
    with contextlib.suppress(FileExistsError):
        os.link(tmp, path)
    tmp.unlink()

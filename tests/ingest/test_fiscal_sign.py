"""The fiscal sign: deterministic, printable, bound to every fact it covers, and its key file."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from gateway.ingest.fiscal_sign import FiscalSigner

HASH = bytes(range(32))
FACTS = ("KKM-0001", 7, HASH, 1_790_000_000_000)


def test_sign_is_deterministic_and_printable() -> None:
    signer = FiscalSigner(b"k" * 32)
    sign = signer.sign(*FACTS)
    assert sign == FiscalSigner(b"k" * 32).sign(*FACTS)
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}", sign), sign


@pytest.mark.parametrize(
    "other",
    [
        ("KKM-0002", 7, HASH, 1_790_000_000_000),
        ("KKM-0001", 8, HASH, 1_790_000_000_000),
        ("KKM-0001", 7, bytes(32), 1_790_000_000_000),
        ("KKM-0001", 7, HASH, 1_790_000_000_001),
    ],
)
def test_sign_depends_on_every_fact(other: tuple[str, int, bytes, int]) -> None:
    signer = FiscalSigner(b"k" * 32)
    sign = signer.sign(*FACTS)
    assert signer.sign(*other) != sign
    assert not signer.verify(*other, sign)


def test_another_key_gives_another_sign() -> None:
    assert FiscalSigner(b"k" * 32).sign(*FACTS) != FiscalSigner(b"j" * 32).sign(*FACTS)


def test_verify_accepts_what_a_person_types() -> None:
    signer = FiscalSigner(b"k" * 32)
    sign = signer.sign(*FACTS)
    assert signer.verify(*FACTS, sign)
    assert signer.verify(*FACTS, sign.lower().replace("-", ""))
    assert signer.verify(*FACTS, sign.replace("0", "O").replace("1", "l"))
    tampered = ("1" if sign[0] != "1" else "2") + sign[1:]
    assert not signer.verify(*FACTS, tampered)


def test_load_or_create_makes_a_private_key_file_once(tmp_path: Path) -> None:
    path = tmp_path / "data" / "fiscal.key"
    first = FiscalSigner.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_bytes()) == 32
    assert FiscalSigner.load_or_create(path).sign(*FACTS) == first.sign(*FACTS)
    assert [p.name for p in path.parent.iterdir()] == ["fiscal.key"]


def test_a_damaged_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fiscal.key"
    path.write_bytes(b"short")
    with pytest.raises(ValueError, match="32 bytes"):
        FiscalSigner.load_or_create(path)


def test_signs_are_stable_across_releases() -> None:
    # Printed on paper and checked years later: the encoding must never change (values from release 1).
    signer = FiscalSigner(b"k" * 32)
    assert signer.sign(*FACTS) == "2DXR-A1A8-7JWY-J9BN"
    assert signer.sign("касса-1", 2**64 - 1, bytes(32), -5) == "9DAQ-6HC8-93V2-KTXE"

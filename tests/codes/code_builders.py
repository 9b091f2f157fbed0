"""Builds real-shaped marking codes for the tests (GTINs with correct check digits, set-82 serials)."""

from __future__ import annotations

from gateway.codes.bench import gtin_with_check

GS = "\x1d"
GTIN = gtin_with_check("0460043993125")  # 04600439931256
GTIN_OTHER = gtin_with_check("0460000000001")
SSCC = gtin_with_check("04600000000000000")  # the same mod-10 rule over 17 digits
GTIN_BAD = GTIN[:-1] + str((int(GTIN[-1]) + 1) % 10)
CRYPTO44 = "MDEwMjQ3NTkzNjI0MDYxMjM0NTY3ODkwMTIzNDU2Nzg5"  # 44 characters of set 82
CRYPTO88 = CRYPTO44 * 2


def shoes(serial: str = "5xKQ4ZbMm8Abc", key: str = "EE06", check: str = CRYPTO44) -> str:
    """01 + 21 (13) + GS + 91 + GS + 92: shoes, clothing, tires, perfume."""
    return f"01{GTIN}21{serial}{GS}91{key}{GS}92{check}"


def dairy(serial: str = "Ab3!x%", tail: str = "a1B2") -> str:
    """01 + 21 (6) + GS + 93: dairy and water."""
    return f"01{GTIN}21{serial}{GS}93{tail}"


def tobacco_block(serial: str = "-jSz)ab", price: str = "012345", tail: str = "Zq9+") -> str:
    """01 + 21 (7) + GS + 8005 + GS + 93: a carton of cigarettes."""
    return f"01{GTIN}21{serial}{GS}8005{price}{GS}93{tail}"


def raw_pack(serial: str = "-jSz)ab", rest: str = "AAAA12345678"[:8]) -> str:
    """The 29-character tobacco pack code: GTIN 14, serial 7, price 4, crypto 4, no AIs."""
    return GTIN + serial + rest

"""Explains a non-ASCII character in a scan: Cyrillic look-alike, Russian layout, full width, NBSP."""

from __future__ import annotations

import unicodedata

_LOOKALIKES = dict(zip("АВЕКМНОРСТХаеорсухіІ", "ABEKMHOPCTXaeopcyxiI", strict=True))
# ЙЦУКЕН keys typed while the Russian layout was active, back to the QWERTY characters of the same keys.
_RU_LAYOUT = dict(
    zip(
        "йцукенгшщзхъфывапролджэячсмитьбюЙЦУКЕНГШЩЗХЪФЫВАПРОЛДЖЭЯЧСМИТЬБЮ№ё",
        "qwertyuiop[]asdfghjkl;'zxcvbnm,.QWERTYUIOP{}ASDFGHJKL:\"ZXCVBNM<>#`",
        strict=True,
    )
)
_SPACES = {"\u00a0": "NBSP", "\u2007": "figure space", "\u202f": "narrow NBSP", "\u3000": "ideographic space"}


def explain_non_ascii(text: str) -> str:
    """A human detail for the first non-ASCII character of text (which must contain one)."""
    pos, ch = next((i, c) for i, c in enumerate(text) if ord(c) > 127)
    name = unicodedata.name(ch, "unnamed")
    where = f"character {pos + 1} is U+{ord(ch):04X} {name}"
    if ch in _SPACES:
        return f"{where}: a {_SPACES[ch]}, not part of any GS1 character set"
    if 0xFF01 <= ord(ch) <= 0xFF5E:
        return f"{where}: a full-width form of {chr(ord(ch) - 0xFEE0)!r}; send ASCII"
    cyrillic = [c for c in text if "\u0400" <= c <= "\u04ff"]
    if cyrillic and any(c not in _LOOKALIKES for c in cyrillic) and all(c in _RU_LAYOUT for c in cyrillic):
        latin = "".join(_RU_LAYOUT.get(c, c) for c in text)
        return f"{where}: typed with the Russian keyboard layout? In the Latin layout it reads {latin!r}"
    if ch in _LOOKALIKES:
        return f"{where}: a Cyrillic look-alike of Latin {_LOOKALIKES[ch]!r}"
    return f"{where}: GS1 data is ASCII only"

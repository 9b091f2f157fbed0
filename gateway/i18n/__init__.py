"""Messages in English, Russian and Kazakh: one catalogue per language, for the pages and server texts alike.

The catalogues (en.json, ru.json, kk.json beside this file) hold every string a user reads; the pages
fetch theirs from /ui/i18n/<lang>.json, the server writes anomaly texts and CSV headers with translate().
A key missing in one language is a test failure (tests/web/test_i18n.py), never an English fallback.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

LANGUAGES = ("en", "ru", "kk")
DEFAULT = "en"
COOKIE = "tracegate_lang"  # set by the pages' language switch, so the choice sticks


@cache
def catalogue(lang: str) -> dict[str, str]:
    """Every message of one language, by key."""
    text = resources.files(__name__).joinpath(f"{lang}.json").read_text(encoding="utf-8")
    messages: dict[str, str] = json.loads(text)
    return messages


# The receipt operations the catalogues name (operation.*).
OPERATIONS = ("SELL", "SELL_RETURN", "BUY", "BUY_RETURN")


def operation_text(operation: str, lang: str) -> str:
    """A receipt operation in the reader's words; one the catalogues do not name, as it is."""
    return translate(lang, f"operation.{operation}") if operation in OPERATIONS else operation


def translate(lang: str, key: str, **params: Any) -> str:
    """The message key in lang with {params} filled in (the key itself if no catalogue has it)."""
    template = catalogue(lang if lang in LANGUAGES else DEFAULT).get(key) or catalogue(DEFAULT).get(key, key)
    return template.format_map(params) if params else template


def negotiate(param: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The reader's language: an explicit ?lang=, else the switch's cookie, else Accept-Language, else en."""
    for choice in (param, cookie):
        if choice and choice.strip().lower()[:2] in LANGUAGES:
            return choice.strip().lower()[:2]
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        ranked.append((-weight, position, tag.strip().lower()[:2]))
    for _, _, tag in sorted(ranked):
        if tag in LANGUAGES:
            return tag
    return DEFAULT


def money(minor: int | None, lang: str) -> str:
    """Tenge from minor units as people of that language write it: 1 234,50 (ru, kk) or 1,234.50 (en)."""
    if minor is None:
        return ""
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    if lang == "en":
        return f"{sign}{whole:,}.{cents:02d}"
    return f"{sign}{whole:,}".replace(",", "\u00a0") + f",{cents:02d}"


def date_text(iso_date: str, lang: str) -> str:
    """A YYYY-MM-DD date as people of that language write it: 2026-09-03 (en), 03.09.2026 (ru, kk)."""
    if lang == "en" or len(iso_date) != 10:
        return iso_date
    year, month, day = iso_date.split("-")
    return f"{day}.{month}.{year}"

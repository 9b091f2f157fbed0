"""The goods a simulated shop sells: GTINs with check digits, weighed goods, marked goods and their codes."""

from __future__ import annotations

import base64
import random
import string
from dataclasses import dataclass

GS = "\x1d"
# GS1 character set 82 (GS1 General Specifications, figure 7.11-1): what AI 21 serials may contain.
GS1_SET_82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
_ALNUM = string.ascii_letters + string.digits

UNIT_PIECE = "796"  # OKEI unit codes, as registers print them
UNIT_KG = "166"


def gs1_check_digit(body: str) -> str:
    """The GS1 mod-10 check digit for a GTIN body (all digits but the last)."""
    total = 0
    for position, char in enumerate(reversed(body)):
        total += int(char) * (3 if position % 2 == 0 else 1)
    return str((10 - total % 10) % 10)


def with_check_digit(body: str) -> str:
    """A complete GTIN: body plus its check digit."""
    return body + gs1_check_digit(body)


def gtin_is_valid(gtin: str) -> bool:
    """True if gtin is all digits, 8/12/13/14 long, with a correct check digit."""
    return gtin.isdigit() and len(gtin) in (8, 12, 13, 14) and gs1_check_digit(gtin[:-1]) == gtin[-1]


@dataclass(frozen=True)
class Goods:
    """One catalog item; price is per unit (per kg for weighed goods), in tiyn."""

    name: str
    gtin: str  # GTIN-14 (zero-padded EAN-13), empty for weighed goods without a barcode
    price: int
    unit: str = UNIT_PIECE
    weighed: bool = False
    marking_group: str = ""  # "", shoes, clothing, medicines, tobacco, dairy
    ai_label: str = ""  # machine-readable "made with AI" label (gateway/security/ai_label.py)


def _gtin14(item: int) -> str:
    # 487 is the GS1 Kazakhstan prefix; company 0101 is made up.
    return "0" + with_check_digit(f"4870101{item:05d}")


_ITEMS: list[tuple[str, int, str, bool, str]] = [
    ("Хлеб пшеничный 500 г", 25000, UNIT_PIECE, False, ""),
    ("Молоко 2,5% 1 л", 52000, UNIT_PIECE, False, "dairy"),
    ("Кефир 1% 900 мл", 48500, UNIT_PIECE, False, "dairy"),
    ("Вода питьевая 1,5 л", 19900, UNIT_PIECE, False, ""),
    ("Чай чёрный 100 пак.", 189000, UNIT_PIECE, False, ""),
    ("Сахар 1 кг", 54000, UNIT_PIECE, False, ""),
    ("Рис длиннозёрный 900 г", 89900, UNIT_PIECE, False, ""),
    ("Масло подсолнечное 1 л", 99500, UNIT_PIECE, False, ""),
    ("Яйца С1 10 шт", 79000, UNIT_PIECE, False, ""),
    ("Шоколад молочный 90 г", 64900, UNIT_PIECE, False, ""),
    ("Сигареты Kent 20 шт", 120000, UNIT_PIECE, False, "tobacco"),
    ("Сигареты Marlboro 20 шт", 115000, UNIT_PIECE, False, "tobacco"),
    ("Кроссовки мужские р.42", 2499000, UNIT_PIECE, False, "shoes"),
    ("Туфли женские р.37", 1899000, UNIT_PIECE, False, "shoes"),
    ("Футболка с ИИ-принтом M", 499000, UNIT_PIECE, False, "clothing"),
    ("Парацетамол 500 мг №20", 35000, UNIT_PIECE, False, "medicines"),
    ("Ибупрофен 200 мг №50", 129000, UNIT_PIECE, False, "medicines"),
    ("Пакет-майка", 3000, UNIT_PIECE, False, ""),
    ("Яблоки Апорт", 89000, UNIT_KG, True, ""),
    ("Бананы", 99000, UNIT_KG, True, ""),
    ("Картофель", 24900, UNIT_KG, True, ""),
    ("Говядина мякоть", 459000, UNIT_KG, True, ""),
    ("Сыр Российский", 389000, UNIT_KG, True, ""),
    ("Конфеты Қазақстан", 299000, UNIT_KG, True, ""),
]
# Goods made with AI carry the label the 2025 AI law asks for; the print of this T-shirt was generated.
_AI_LABELS = {"Футболка с ИИ-принтом M": "ai/1;src=compositeWithTrainedAlgorithmicMedia;tool=print-studio"}


def default_catalog() -> list[Goods]:
    """The catalog every simulated shop sells from (fixed, so golden fixtures stay stable)."""
    catalog = []
    for number, (name, price, unit, weighed, group) in enumerate(_ITEMS, start=1):
        # Weighed goods are sold by in-store scale labels, not by a GTIN.
        gtin = "" if weighed else _gtin14(number)
        catalog.append(Goods(name, gtin, price, unit, weighed, group, _AI_LABELS.get(name, "")))
    return catalog


def _random_chars(rng: random.Random, alphabet: str, length: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


def marking_code(goods: Goods, rng: random.Random) -> str:
    """A fresh, syntactically valid marking code (GS1 element string, GS kept) for one item of goods."""
    if not goods.marking_group:
        raise ValueError(f"{goods.name} is not marked goods")
    if goods.marking_group in ("tobacco", "dairy"):
        # Tobacco packs: 7-char serial, dairy/water: 6; both with the short AI 93 crypto tail.
        serial_len = 7 if goods.marking_group == "tobacco" else 6
        serial = _random_chars(rng, GS1_SET_82, serial_len)
        return f"01{goods.gtin}21{serial}{GS}93{_random_chars(rng, _ALNUM, 4)}"
    serial = _random_chars(rng, GS1_SET_82, 13)
    key_id = _random_chars(rng, _ALNUM, 4)
    # AI 92 is 44 chars: base64 of a 32-byte verification value, which only the operator can check.
    crypto = base64.b64encode(rng.randbytes(32)).decode()
    return f"01{goods.gtin}21{serial}{GS}91{key_id}{GS}92{crypto}"


def cis_of(code: str) -> str:
    """The item identity of a marking code: 01 + GTIN + 21 + serial (what precedes the first GS)."""
    return code.split(GS, 1)[0]

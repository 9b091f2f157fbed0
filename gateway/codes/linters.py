"""The syntax dictionary's linters: content checks of one component, each returning an error token or None."""

from __future__ import annotations

from collections.abc import Callable

from gateway.codes.iso_codes import ISO3166_ALPHA2, ISO3166_NUMERIC, ISO4217_NUMERIC

X82_ORDER = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
X82 = frozenset(X82_ORDER)
X39 = frozenset("#-/0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
Z64 = frozenset("-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz")
_X82_VALUE = {ch: i for i, ch in enumerate(X82_ORDER)}
_CSET32 = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
_PRIMES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89)
_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
GTIN_AIS = frozenset(("01", "02", "03", "8006", "8026"))

Linter = Callable[[str], "str | None"]


def mod10_ok(digits: str) -> bool:
    """GS1 mod-10: the last digit checks the others (weights 3,1,3… from the right, check excluded)."""
    data = digits.encode()
    n = len(data)
    if n < 2:
        return False
    # Summing byte slices runs in C; subtracting 48 per digit turns ASCII codes into digit values.
    tripled = data[n - 2::-2]
    single = data[n - 3::-2] if n >= 3 else b""
    total = 3 * (sum(tripled) - 48 * len(tripled)) + sum(single) - 48 * len(single)
    return (10 - total % 10) % 10 == data[-1] - 48


def gtin14_ok(digits: str) -> bool:
    """mod10_ok for exactly 14 ASCII digits, unrolled for the hot path (the GTIN of every marking code)."""
    data = digits.encode()
    # 3·(odd positions from the right, check excluded) + the others + check digit ≡ 0 (mod 10); the ASCII
    # offsets add 48·28 = 1344 ≡ 4 (mod 10).
    return (3 * sum(data[12::-2]) + sum(data[11::-2]) + data[13]) % 10 == 4


def _csum(value: str) -> str | None:
    return None if mod10_ok(value) else "check_digit"


def _csumalpha(value: str) -> str | None:
    # GS1 General Specifications 7.9.5: check character pair over set 82 values weighted by primes.
    if len(value) < 3 or len(value) > 25:
        return "check_digit"
    body = value[:-2]
    # The rightmost data character weighs 2, the next 3, and so on up the primes.
    weights = _PRIMES[len(body) - 1::-1]
    total = sum(_X82_VALUE[ch] * w for ch, w in zip(body, weights, strict=True)) % 1021
    expected = _CSET32[total >> 5] + _CSET32[total & 31]
    return None if value[-2:] == expected else "check_digit"


def _date_ok(yy: int, mm: int, dd: int, allow_day_zero: bool) -> bool:
    if not 1 <= mm <= 12:
        return False
    if dd == 0:
        return allow_day_zero
    # YY resolves to 1977..2076 today (GS1 7.12 sliding window), where every year divisible by 4 is leap.
    if mm == 2 and dd == 29:
        return yy % 4 == 0
    return dd <= _DAYS[mm]


def _yymmdd(value: str) -> str | None:
    return None if _date_ok(int(value[0:2]), int(value[2:4]), int(value[4:6]), False) else "bad_date"


def _yymmd0(value: str) -> str | None:
    return None if _date_ok(int(value[0:2]), int(value[2:4]), int(value[4:6]), True) else "bad_date"


def _yyyymmdd(value: str) -> str | None:
    year, mm, dd = int(value[0:4]), int(value[4:6]), int(value[6:8])
    if not 1 <= mm <= 12 or dd == 0:
        return "bad_date"
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    limit = 29 if mm == 2 and leap else (28 if mm == 2 else _DAYS[mm])
    return None if dd <= limit else "bad_date"


def _hhmi(value: str) -> str | None:
    return None if int(value[0:2]) <= 23 and int(value[2:4]) <= 59 else "bad_time"


def _hh(value: str) -> str | None:
    return None if int(value) <= 23 else "bad_time"


def _mi(value: str) -> str | None:
    return None if int(value) <= 59 else "bad_time"


def _iso3166(value: str) -> str | None:
    return None if value in ISO3166_NUMERIC else "bad_country"


def _iso3166999(value: str) -> str | None:
    return None if value == "999" or value in ISO3166_NUMERIC else "bad_country"


def _iso3166alpha2(value: str) -> str | None:
    return None if value in ISO3166_ALPHA2 else "bad_country"


def _iso4217(value: str) -> str | None:
    return None if value in ISO4217_NUMERIC else "bad_currency"


def _check(condition: bool) -> str | None:
    return None if condition else "bad_value"


def _pcenc(value: str) -> str | None:
    i = value.find("%")
    while i != -1:
        pair = value[i + 1:i + 3]
        if len(pair) != 2 or any(ch not in "0123456789ABCDEFabcdef" for ch in pair):
            return "bad_value"
        i = value.find("%", i + 3)
    return None


def _pieceoftotal(value: str) -> str | None:
    half = len(value) // 2
    piece, total = int(value[:half]), int(value[half:])
    return _check(0 < piece <= total)


def _iban(value: str) -> str | None:
    if len(value) < 5 or value[:2] not in ISO3166_ALPHA2 or not value[2:4].isdigit():
        return "bad_value"
    if not all(ch.isdigit() or "A" <= ch <= "Z" for ch in value):
        return "bad_value"
    rotated = value[4:] + value[:4]
    number = "".join(str(int(ch, 36)) for ch in rotated)
    return _check(int(number) % 97 == 1)


def _latitude(value: str) -> str | None:
    return _check(int(value) <= 1800000000)


def _longitude(value: str) -> str | None:
    return _check(int(value) <= 3600000000)


def _mediatype(value: str) -> str | None:
    number = int(value)
    return _check(1 <= number <= 10 or 80 <= number <= 99)


def _importeridx(value: str) -> str | None:
    return _check(value.isalnum() or value in "-_")


def _posinseqslash(value: str) -> str | None:
    pos, slash, total = value[0], value[1], value[2]
    return _check(slash == "/" and pos.isdigit() and total.isdigit() and 0 < int(pos) <= int(total))


def _no_check(value: str) -> str | None:
    return None


LINTERS: dict[str, Linter] = {
    "csum": _csum,
    "csumalpha": _csumalpha,
    "yymmdd": _yymmdd,
    "yymmd0": _yymmd0,
    "yyyymmdd": _yyyymmdd,
    "hhmi": _hhmi,
    "hh": _hh,
    "mi": _mi,
    "ss": _mi,
    "iso3166": _iso3166,
    "iso3166999": _iso3166999,
    "iso3166alpha2": _iso3166alpha2,
    "iso4217": _iso4217,
    "pcenc": _pcenc,
    "pieceoftotal": _pieceoftotal,
    "iban": _iban,
    "latitude": _latitude,
    "longitude": _longitude,
    "mediatype": _mediatype,
    "importeridx": _importeridx,
    "posinseqslash": _posinseqslash,
    "nonzero": lambda v: _check(v.strip("0") != ""),
    "zero": lambda v: _check(v == "0"),
    "winding": lambda v: _check(v in ("0", "1", "9")),
    "yesno": lambda v: _check(v in ("0", "1")),
    "iso5218": lambda v: _check(v in ("0", "1", "2", "9")),
    "hyphen": lambda v: _check(v == "-"),
    "nozeroprefix": lambda v: _check(v == "0" or not v.startswith("0")),
    "hasnondigit": lambda v: _check(not v.isdigit()),
    # Need tables this project does not carry (GS1 company prefixes, UN/ECE Rec 21, coupon grammars).
    "gcppos1": _no_check,
    "gcppos2": _no_check,
    "packagetype": _no_check,
    "couponcode": _no_check,
    "couponposoffer": _no_check,
}

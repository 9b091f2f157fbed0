"""The hot-path validator: one scanned marking code in, one CodeResult out (pure, no I/O, no regex)."""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

from gateway.codes.digital_link import is_digital_link, split_digital_link
from gateway.codes.element_string import GS, split_elements, suspect_spans
from gateway.codes.linters import X82, gtin14_ok
from gateway.codes.non_ascii import explain_non_ascii
from gateway.codes.profile import GROUP_BY_SERIAL_LENGTH, TOBACCO, check_crypto, cis_of
from gateway.codes.specs import AI_LENGTH_BY_PREFIX, VALID_MMDD0, InvalidCode, check_associations, lookup_ai

GS1_SYMBOLOGIES = frozenset(("]d2", "]C1", "]Q3", "]e0"))
PLAIN_SYMBOLOGIES = frozenset(("]d1", "]Q1"))
# Scanners in keyboard mode sometimes type GS as this escape text; '\' is in no GS1 set, so it is unambiguous.
LITERAL_GS = ("\\u001d", "\\u001D", "\\x1d", "\\x1D")
RAW_TOBACCO_LENGTH = 29
# Re-parses allowed when guessing where a GS went missing: error path only, but bounded so a hostile code
# costs at most a few milliseconds.
_GUESS_BUDGET = 60
_LIKELY_LOST = ("91", "92", "93", "80", "17", "31", "10")
_GUESSABLE = frozenset(("field_too_long", "missing_crypto", "truncated_crypto", "bad_crypto_length"))


class CodeResult(NamedTuple):
    """The verdict on one scanned code (immutable); `to_json_dict` is exactly the CLI's JSON object.

    A named tuple, not a frozen dataclass: it is made once per code on the hot path, and a tuple is made
    in C (a frozen dataclass's __init__ costs three times as much).
    """

    ok: bool
    ais: dict[str, str]
    gtin: str | None
    cis: str | None
    group: str | None
    error: str | None
    detail: str

    def to_json_dict(self) -> dict[str, object]:
        """ok/ais/gtin/cis/group/error/detail in this order."""
        return {
            "ok": self.ok, "ais": self.ais, "gtin": self.gtin, "cis": self.cis, "group": self.group,
            "error": self.error, "detail": self.detail,
        }


def failure(token: str, detail: str) -> CodeResult:
    """A result for a code that fails before any AI could be trusted."""
    return CodeResult(False, {}, None, None, None, token, detail)


def _collect(pairs: list[tuple[str, str]]) -> dict[str, str]:
    ais: dict[str, str] = {}
    for ai, value in pairs:
        seen = ais.get(ai)
        if seen is None:
            ais[ai] = value
        elif seen != value:
            raise InvalidCode("conflicting_ai", f"AI ({ai}) appears twice: {seen!r} and {value!r}")
    check_associations(ais)
    return ais


# The operator's code shapes as one linear pattern (no character class contains GS, so nothing backtracks
# beyond the 44/88 choice). A match is exactly what split_elements would produce for it; the equivalence
# is tested. 17 and 8005 before the crypto part, 3103 after 93.
_X = "[!-\"%-/0-9:-?A-Z_a-z]"
COMMON_SHAPE = re.compile(
    f"01([0-9]{{14}})21({_X}{{1,20}})\x1d(?:17([0-9]{{6}})\x1d?|8005([0-9]{{6}})\x1d)?"
    f"(?:91({_X}{{4}})\x1d92({_X}{{88}}|{_X}{{44}})|93({_X}{{4}})(?:\x1d3103([0-9]{{6}}))?)\x1d?"
)


# A GTIN is one product and comes back on every item of it (the serial is what differs): its check digit
# remembered, bounded, costs a tenth of computing it again.
_gtin14_ok_cached = functools.lru_cache(maxsize=8192)(gtin14_ok)


def _common_shape_result(match: re.Match[str]) -> CodeResult | None:
    """The verdict for a COMMON_SHAPE match, or None when a value check fails (the full path explains)."""
    gtin, serial, expiry, price, key_id, check, tail, weight = match.groups()
    if not _gtin14_ok_cached(gtin):
        return None
    ais = {"01": gtin, "21": serial}
    if expiry is not None:
        mmdd = expiry[2:]
        if mmdd not in VALID_MMDD0 or (mmdd == "0229" and int(expiry[:2]) % 4 != 0):
            return None
        ais["17"] = expiry
    elif price is not None:
        ais["8005"] = price
    if tail is None:
        ais["91"] = key_id
        ais["92"] = check
    else:
        ais["93"] = tail
        if weight is not None:
            ais["3103"] = weight
    return CodeResult(
        True, ais, gtin, "01" + gtin + "21" + serial, GROUP_BY_SERIAL_LENGTH.get(len(serial)), None, ""
    )


def _marking(ais: dict[str, str]) -> CodeResult:
    """Apply the marking profile to syntactically valid GS1 data."""
    gtin = ais.get("01")
    if gtin is None:
        return CodeResult(False, ais, None, None, None, "missing_gtin", "no GTIN (01): not a marking code")
    serial = ais.get("21")
    if serial is None:
        return CodeResult(False, ais, gtin, None, None, "missing_serial",
                          "no serial (21): not a marking code")
    cis = "01" + gtin + "21" + serial
    group = GROUP_BY_SERIAL_LENGTH.get(len(serial))
    c93 = ais.get("93")
    c91 = ais.get("91")
    c92 = ais.get("92")
    if (c93 is None or len(c93) == 4) and (
        (c93 is not None and c91 is None and c92 is None)
        or (c91 is not None and c92 is not None and len(c91) == 4 and len(c92) in (44, 88))
    ):
        return CodeResult(True, ais, gtin, cis, group, None, "")  # the common valid shapes, checked inline
    try:
        check_crypto(ais)
    except InvalidCode as exc:
        return CodeResult(False, ais, gtin, cis, group, exc.token, exc.detail)
    return CodeResult(True, ais, gtin, cis, group, None, "")


def _element_result(data: str, start: int) -> CodeResult:
    try:
        ais = split_elements(data, start)
        check_associations(ais)
    except InvalidCode as exc:
        return failure(exc.token, exc.detail)
    return _marking(ais)


def _guess_missing_gs(data: str, start: int, depth: int, budget: list[int]) -> list[int] | None:
    """Positions where inserting one to `depth` GS turns data into a valid marking code."""
    candidates = [p for lo, hi in suspect_spans(data, start) for p in range(lo + 1, hi - 1)]
    # Crypto AIs first: that is where scanners lose GS most; then the other AIs of marking codes.
    candidates.sort(key=lambda p: (_LIKELY_LOST.index(data[p:p + 2]) if data[p:p + 2] in _LIKELY_LOST else 9))
    for p in candidates:
        if lookup_ai(data, p) is None:
            continue
        if budget[0] <= 0:
            return None
        budget[0] -= 1
        candidate = data[:p] + GS + data[p:]
        result = _element_result(candidate, start)
        if result.ok:
            return [p]
        if depth > 1 and result.error in _GUESSABLE:
            deeper = _guess_missing_gs(candidate, start, depth - 1, budget)
            if deeper is not None:
                return [p, *(q - 1 for q in deeper)]
    return None


def _raw_tobacco(data: str) -> CodeResult | None:
    """A 29-character tobacco pack code (GTIN 14, then 15 characters of set 82), or None if not that shape."""
    if len(data) != RAW_TOBACCO_LENGTH or not data[:14].isdigit():
        return None
    gtin, serial, tail = data[:14], data[14:21], data[21:]
    if not gtin14_ok(gtin):
        return failure("gtin_check_digit", f"raw tobacco pack code: GTIN {gtin} has a wrong check digit")
    if not X82.issuperset(data[14:]):
        bad = next(ch for ch in data[14:] if ch not in X82)
        return failure("bad_charset", f"raw tobacco pack code: {bad!r} is not in GS1 set 82")
    del tail  # price and crypto tail: only the operator can check them
    ais = {"01": gtin, "21": serial}
    return CodeResult(True, ais, gtin, cis_of(gtin, serial), TOBACCO, None, "")


def _gs1_data(data: str, start: int, allow_raw: bool) -> CodeResult:
    if allow_raw and len(data) == RAW_TOBACCO_LENGTH and data[:2] not in AI_LENGTH_BY_PREFIX:
        raw = _raw_tobacco(data)  # no AI starts so: skip the element parse that must fail
        if raw is not None:
            return raw
    result = _element_result(data, start)
    if result.ok:
        return result
    if allow_raw and result.ais == {} and GS not in data:
        raw = _raw_tobacco(data)
        if raw is not None:
            return raw
    if result.error in _GUESSABLE:
        positions = _guess_missing_gs(data, start, 3, [_GUESS_BUDGET])
        if positions is not None:
            where = ", ".join(f"before {data[p:p + 4]!r} (character {p + 1 - start})" for p in positions)
            return failure("missing_gs", f"GS separator missing {where}")
    return result


def _digital_link(uri: str) -> CodeResult:
    try:
        ais = _collect(split_digital_link(uri))
    except InvalidCode as exc:
        return failure(exc.token, exc.detail)
    return _marking(ais)


def validate_code(raw: str) -> CodeResult:
    """Validate one scanned code (element string, symbology id, leading GS, Digital Link, raw tobacco)."""
    if not raw:
        return failure("empty_input", "empty input")
    if not raw.isascii():
        return failure("non_ascii", explain_non_ascii(raw))
    data = raw
    if "\\" in data:
        for escape in LITERAL_GS:
            data = data.replace(escape, GS)
    first = data[0]
    allow_raw = False
    if first == "]":
        symbology = data[:3]
        if symbology in GS1_SYMBOLOGIES:
            start = 4 if data[3:4] == GS else 3
            if start >= len(data):
                return failure("empty_input", f"nothing after the symbology identifier {symbology}")
            if data[start] in "hH" and is_digital_link(data[start:]):
                return failure("not_gs1_data", f"{symbology} announces GS1 element strings, not a URI")
        elif symbology in PLAIN_SYMBOLOGIES:
            return _plain_data(symbology, data[3:])
        else:
            return failure("unknown_symbology", f"{symbology!r} is not an identifier for marking codes")
    elif first == GS:
        if len(data) == 1:
            return failure("empty_input", "nothing but a GS")
        start = 1
    elif first in "hH" and is_digital_link(data):
        return _digital_link(data)
    else:
        if len(data) == RAW_TOBACCO_LENGTH and data[:2] not in AI_LENGTH_BY_PREFIX:
            raw_code = _raw_tobacco(data)  # no AI starts so: the element parse could only fail
            if raw_code is not None:
                return raw_code
        start = 0
        allow_raw = True
    shape = COMMON_SHAPE.fullmatch(data, start)
    if shape is not None:
        result = _common_shape_result(shape)
        if result is not None:
            return result
    return _gs1_data(data, start, allow_raw)


def _plain_data(symbology: str, body: str) -> CodeResult:
    """After ]d1 or ]Q1: a GS1 Digital Link URI or a raw tobacco pack code, nothing else."""
    if is_digital_link(body):
        return _digital_link(body)
    raw_code = _raw_tobacco(body)
    if raw_code is not None:
        return raw_code
    return failure("not_gs1_data", f"{symbology} carries plain data: only a raw tobacco pack code or a URI")

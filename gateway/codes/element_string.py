"""Splits a GS1 element string into (AI, value) pairs exactly as the General Specifications say."""

from __future__ import annotations

from gateway.codes.linters import X82, X82_ORDER, gtin14_ok
from gateway.codes.specs import (
    FAST_DATE,
    FAST_DATE0,
    FAST_DIGITS,
    FAST_GTIN,
    FAST_X82,
    HOT_BY_AI,
    HOT_BY_PREFIX,
    VALID_MMDD,
    VALID_MMDD0,
    InvalidCode,
    check_value,
    lookup_ai,
)

GS = "\x1d"
X82_OR_GS = (X82_ORDER + GS).encode()


def _ai_error(data: str, i: int) -> InvalidCode:
    if data[i] == GS:
        return InvalidCode("double_gs", f"two GS separators in a row at character {i + 1}")
    head = data[i:i + 4]
    for ch in head:
        if ch != GS and ch not in X82:
            return InvalidCode("bad_charset", f"{ch!r} (U+{ord(ch):04X}) at an AI position ({i + 1})")
    shown = head.split(GS)[0]
    return InvalidCode("unknown_ai", f"no GS1 AI starts with {shown!r} at character {i + 1}")


def split_elements(data: str, i: int = 0) -> dict[str, str]:
    """The AIs of data[i:] with their values, checked; raises InvalidCode on the first fault.

    Predefined-length AIs take exactly their length; every other AI runs to the next GS or the end.
    A GS after a predefined-length field and one trailing GS are tolerated; two in a row are not.
    A repeated AI must repeat its value exactly.
    """
    n = len(data)
    ais: dict[str, str] = {}
    hot_get = HOT_BY_AI.get
    prefix_get = HOT_BY_PREFIX.get
    x82_superset = X82.issuperset
    # One C-speed pass over the whole string: if every character is in set 82 or GS, no set-82 field
    # needs its own character check.
    all_x82 = not data.encode().translate(None, X82_OR_GS)
    while i < n:
        entry = prefix_get(data[i:i + 2])
        if entry.__class__ is int:
            entry = hot_get(data[i:i + entry])
        if entry is None:
            raise _ai_error(data, i)
        ai_len, fixed, min_len, max_len, fast, spec = entry  # type: ignore[misc]
        k = i + ai_len
        if fixed:
            end = k + max_len
            value = data[k:end]
            if len(value) < max_len or GS in value:
                cut = value.split(GS)[0]
                if not cut:
                    raise InvalidCode("empty_field", f"AI ({spec.ai}) has no data")
                raise InvalidCode(
                    "field_too_short", f"AI ({spec.ai}) takes exactly {max_len} characters, got {len(cut)}"
                )
            i = end + 1 if end < n and data[end] == GS else end
        else:
            end = data.find(GS, k)
            if end == -1:
                end = n
            value = data[k:end]
            i = end + 1
        # Inlined checks for the common AIs (01, 21, 91, 92, 93, 10, 8005 …); anything else, and every
        # failure, goes through check_value, which also names the fault.
        if fast == FAST_X82:
            passed = min_len <= len(value) <= max_len and (all_x82 or x82_superset(value))
        elif fast == FAST_GTIN:
            passed = value.isdigit() and gtin14_ok(value)
        elif fast == FAST_DIGITS:
            passed = min_len <= len(value) <= max_len and value.isdigit()
        elif fast >= FAST_DATE:
            mmdd = value[2:]
            passed = (
                value.isdigit() and mmdd in (VALID_MMDD0 if fast == FAST_DATE0 else VALID_MMDD)
                and (mmdd != "0229" or int(value[:2]) % 4 == 0)
            )
        else:
            passed = False
        if not passed:
            check_value(spec, value)
        seen = ais.setdefault(spec.ai, value)
        if seen is not value and seen != value:
            raise InvalidCode("conflicting_ai", f"AI ({spec.ai}) appears twice: {seen!r} and {value!r}")
    return ais


def suspect_spans(data: str, i: int = 0) -> list[tuple[int, int]]:
    """Value spans of variable-length fields that may hide a missing GS: over-long ones and one that ran
    to the end of the data (fields are walked without validation; used only to explain errors)."""
    n = len(data)
    spans: list[tuple[int, int]] = []
    while i < n:
        spec = lookup_ai(data, i)
        if spec is None:
            break
        k = i + len(spec.ai)
        if spec.fixed:
            i = k + spec.length
            if i < n and data[i] == GS:
                i += 1
            continue
        end = data.find(GS, k)
        if end == -1 or end - k > spec.max_len:
            spans.append((k, n if end == -1 else end))
        if end == -1:
            break
        i = end + 1
    return spans

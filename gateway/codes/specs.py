"""Runtime form of the generated AI table: per-AI specs, value checks and association rules."""

from __future__ import annotations

from gateway.codes.ai_table import AI_TABLE
from gateway.codes.linters import GTIN_AIS, LINTERS, X39, X82, Z64, Linter


class InvalidCode(Exception):
    """A code fails a rule: carries the stable error token and a human detail."""

    def __init__(self, token: str, detail: str) -> None:
        super().__init__(token, detail)
        self.token = token
        self.detail = detail


# (kind, min_len, max_len, optional, linters)
RuntimeComponent = tuple[str, int, int, bool, tuple[Linter, ...]]


class AiSpec:
    """Everything the parser needs to know about one AI, precomputed once."""

    __slots__ = (
        "ai",
        "components",
        "dl_attribute",
        "dlpkey",
        "ex_exact",
        "ex_patterns",
        "fast",
        "fixed",
        "is_gtin",
        "length",
        "max_len",
        "min_len",
        "req_groups",
        "simple",
    )

    def __init__(self, ai: str) -> None:
        fixed, dl_attr, components, req, ex, dlpkey, _title = AI_TABLE[ai]
        self.ai = ai
        self.fixed = fixed
        self.dl_attribute = dl_attr
        self.dlpkey = dlpkey
        self.is_gtin = ai in GTIN_AIS
        self.components: tuple[RuntimeComponent, ...] = tuple(
            (kind, lo, hi, opt, tuple(LINTERS[name] for name in linters))
            for kind, lo, hi, opt, linters in components
        )
        self.min_len = sum(c[1] for c in components if not c[3])
        self.max_len = sum(c[2] for c in components)
        self.length = self.max_len if fixed else 0
        # The common case (01, 21, 91, 92, 93, 10 …): one component; checked without a loop.
        self.simple = self.components[0] if len(self.components) == 1 else None
        self.fast = _fast_kind(ai, self.simple)
        self.req_groups = tuple(tuple(_pattern(p) for p in group) for group in req)
        self.ex_exact = frozenset(p for p in ex if "n" not in p)
        self.ex_patterns = tuple(_pattern(p) for p in ex if "n" in p)


FAST_X82, FAST_DIGITS, FAST_GTIN, FAST_DATE, FAST_DATE0 = 1, 2, 3, 4, 5
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# Every valid MMDD (29 Feb included; the year decides it), and the same with day 00 allowed.
VALID_MMDD = frozenset(f"{m:02d}{d:02d}" for m in range(1, 13) for d in range(1, _DAYS_IN_MONTH[m - 1] + 1))
VALID_MMDD0 = VALID_MMDD | frozenset(f"{m:02d}00" for m in range(1, 13))


def _fast_kind(ai: str, simple: RuntimeComponent | None) -> int:
    """Which inlined check the parser may use for this AI (0: none, go through check_value)."""
    if simple is None:
        return 0
    if not simple[4]:
        return {"X": FAST_X82, "N": FAST_DIGITS}.get(simple[0], 0)
    if simple[0] == "N" and simple[1] == simple[2] == 6 and len(simple[4]) == 1:
        name = simple[4][0].__name__
        return {"_yymmdd": FAST_DATE, "_yymmd0": FAST_DATE0}.get(name, 0)
    return FAST_GTIN if ai == "01" else 0


def _pattern(text: str) -> tuple[str, int]:
    """`310n` → ('310', 4): the dictionary's patterns only have trailing 'n' wildcards."""
    return (text.rstrip("n"), len(text))


SPECS: dict[str, AiSpec] = {ai: AiSpec(ai) for ai in AI_TABLE}
# GS1 AIs' length follows from their first two digits, so one lookup on two characters finds the length.
AI_LENGTH_BY_PREFIX: dict[str, int] = {ai[:2]: len(ai) for ai in AI_TABLE}
# The parser's view of an AI, unpacked in one step: (ai_len, fixed, min_len, max_len, fast, spec).
HotEntry = tuple[int, bool, int, int, int, AiSpec]
HOT_BY_AI: dict[str, HotEntry] = {
    ai: (len(ai), spec.fixed, spec.min_len, spec.max_len, spec.fast, spec) for ai, spec in SPECS.items()
}
# First two characters → the entry of a two-digit AI (the common ones), or the length of the longer AI.
HOT_BY_PREFIX: dict[str, HotEntry | int] = {
    ai[:2]: HOT_BY_AI[ai] if len(ai) == 2 else len(ai) for ai in AI_TABLE
}


def lookup_ai(data: str, i: int) -> AiSpec | None:
    """The AI starting at data[i], if any (AIs are prefix-free, so at most one length matches)."""
    size = AI_LENGTH_BY_PREFIX.get(data[i:i + 2])
    return None if size is None else SPECS.get(data[i:i + size])


def _first_bad_char(value: str, allowed: frozenset[str]) -> str:
    for ch in value:
        if ch not in allowed:
            return ch
    return ""


def _charset_ok(kind: str, part: str) -> bool:
    if kind == "N":
        return part.isdigit()
    if kind == "X":
        return X82.issuperset(part)
    if kind == "Y":
        return X39.issuperset(part)
    # Set 64 (base64url) allows '=' padding only at the end.
    return Z64.issuperset(part.rstrip("="))


def _charset_error(ai: str, kind: str, part: str) -> InvalidCode:
    allowed = {"N": frozenset("0123456789"), "X": X82, "Y": X39, "Z": Z64}[kind]
    bad = _first_bad_char(part, allowed)
    names = {"N": "digits", "X": "GS1 set 82", "Y": "GS1 set 39", "Z": "GS1 set 64"}
    shown = "GS (0x1D)" if bad == "\x1d" else f"{bad!r} (U+{ord(bad):04X})" if bad else "'='"
    return InvalidCode("bad_charset", f"AI ({ai}): {shown} is not allowed, only {names[kind]}")


def _lint(spec: AiSpec, part: str, linters: tuple[Linter, ...]) -> None:
    for linter in linters:
        token = linter(part)
        if token is not None:
            if token == "check_digit" and spec.is_gtin:
                token = "gtin_check_digit"
            raise InvalidCode(token, f"AI ({spec.ai}): {part!r} fails the {linter.__name__.strip('_')} check")


def check_value(spec: AiSpec, value: str) -> None:
    """Validate one AI's data against its format and linters; raises InvalidCode."""
    size = len(value)
    if size == 0:
        raise InvalidCode("empty_field", f"AI ({spec.ai}) has no data")
    if size > spec.max_len:
        raise InvalidCode("field_too_long", f"AI ({spec.ai}): {size} characters, at most {spec.max_len}")
    if size < spec.min_len:
        raise InvalidCode("field_too_short", f"AI ({spec.ai}): {size} characters, at least {spec.min_len}")
    simple = spec.simple
    if simple is not None:
        if not _charset_ok(simple[0], value):
            raise _charset_error(spec.ai, simple[0], value)
        if simple[4]:
            _lint(spec, value, simple[4])
        return
    pos = 0
    for kind, lo, hi, optional, linters in spec.components:
        if pos >= size and optional:
            break
        part = value[pos:pos + hi]
        if len(part) < lo:
            raise InvalidCode("field_too_short", f"AI ({spec.ai}): a component needs {lo} characters")
        pos += len(part)
        if not _charset_ok(kind, part):
            raise _charset_error(spec.ai, kind, part)
        if linters:
            _lint(spec, part, linters)


def _matches(ai: str, pattern: tuple[str, int]) -> bool:
    return len(ai) == pattern[1] and ai.startswith(pattern[0])


_ASSOCIATION_VERDICTS: dict[tuple[str, ...], InvalidCode | None] = {}
_VERDICT_CACHE_LIMIT = 4096


def check_associations(ais: dict[str, str]) -> None:
    """The dictionary's req= and ex= rules over the AIs present; raises InvalidCode.

    The verdict depends only on which AIs are present, and real codes come in few shapes: cache it.
    """
    key = tuple(ais)
    try:
        verdict = _ASSOCIATION_VERDICTS[key]
    except KeyError:
        verdict = _association_verdict(key)
        if len(_ASSOCIATION_VERDICTS) >= _VERDICT_CACHE_LIMIT:
            _ASSOCIATION_VERDICTS.clear()
        _ASSOCIATION_VERDICTS[key] = verdict
    if verdict is not None:
        raise InvalidCode(verdict.token, verdict.detail)


def _association_verdict(present: tuple[str, ...]) -> InvalidCode | None:
    try:
        _check_associations(present)
    except InvalidCode as exc:
        return exc
    return None


def _check_associations(present: tuple[str, ...]) -> None:
    for ai in present:
        spec = SPECS[ai]
        for other in present:
            if other != ai and (
                other in spec.ex_exact or any(_matches(other, p) for p in spec.ex_patterns)
            ):
                raise InvalidCode("excluded_ai", f"AI ({ai}) may not appear together with ({other})")
        if spec.req_groups and not any(
            all(any(_matches(other, p) for other in present) for p in group) for group in spec.req_groups
        ):
            groups = spec.req_groups
            wanted = " or ".join("+".join(p[0] + "n" * (p[1] - len(p[0])) for p in g) for g in groups)
            raise InvalidCode("missing_required_ai", f"AI ({ai}) requires ({wanted})")

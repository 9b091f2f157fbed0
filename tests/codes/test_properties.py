"""Property tests: generated valid codes pass and split like biip splits them; the inlined common-shape path
decides exactly like the full parser; arbitrary input never crashes."""

from __future__ import annotations

import biip
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.codes import validate_code
from gateway.codes.bench import gtin_with_check
from gateway.codes.linters import X82_ORDER
from gateway.codes.parser import COMMON_SHAPE, _gs1_data

GS = "\x1d"
set82 = st.text(alphabet=X82_ORDER, min_size=1, max_size=20)
# Serials and crypto biased towards AI look-alikes, the classic trap for substring splitters.
tricky = st.lists(st.sampled_from(["91", "92", "93", "21", "01", "8005", "17", "10", "3103", "a", "Z", "%"]))
gtins = st.text(alphabet="0123456789", min_size=13, max_size=13).map(gtin_with_check)


def _fit(text: str, size: int, filler: str) -> str:
    return (text + filler * size)[:size]


@st.composite
def marking_codes(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    """A valid marking code and the AIs it holds."""
    gtin = draw(gtins)
    serial = _fit("".join(draw(tricky)) + draw(set82), draw(st.integers(1, 20)), "x")
    ais = {"01": gtin, "21": serial}
    parts = [f"01{gtin}21{serial}"]
    extra = draw(st.sampled_from(["", "17", "8005"]))
    if extra == "17":
        expiry = f"{draw(st.integers(0, 99)):02d}{draw(st.integers(1, 12)):02d}{draw(st.integers(0, 28)):02d}"
        ais["17"] = expiry
        parts.append(f"{GS}17{expiry}")
    elif extra == "8005":
        price = f"{draw(st.integers(0, 999999)):06d}"
        ais["8005"] = price
        parts.append(f"{GS}8005{price}")
    if draw(st.booleans()):
        key = _fit("".join(draw(tricky)) + draw(set82), 4, "k")
        check = _fit("".join(draw(tricky)) + draw(set82), draw(st.sampled_from([44, 88])), "c")
        ais.update({"91": key, "92": check})
        parts += [f"{GS}91{key}", f"{GS}92{check}"]
    else:
        tail = _fit("".join(draw(tricky)) + draw(set82), 4, "t")
        ais["93"] = tail
        parts.append(f"{GS}93{tail}")
        if draw(st.booleans()):
            weight = f"{draw(st.integers(0, 999999)):06d}"
            ais["3103"] = weight
            parts.append(f"{GS}3103{weight}")
    prefix = draw(st.sampled_from(["", "]d2", "]d2" + GS, GS, "]C1", "]Q3"]))
    return prefix + "".join(parts), ais


@settings(max_examples=300, deadline=None)
@given(marking_codes())
def test_generated_codes_pass_with_their_values(case: tuple[str, dict[str, str]]) -> None:
    code, ais = case
    result = validate_code(code)
    assert result.ok, (code, result)
    assert result.ais == ais


@settings(max_examples=300, deadline=None)
@given(marking_codes())
def test_biip_splits_generated_codes_the_same_way(case: tuple[str, dict[str, str]]) -> None:
    """biip as a second opinion on the split (it checks neither the profile nor req/ex)."""
    code, _ = case
    message = biip.parse(code).gs1_message
    assert message is not None
    theirs = {element.ai.ai: element.value for element in message.element_strings}
    assert theirs == validate_code(code).ais


def _start(code: str) -> int:
    if code.startswith(("]d2", "]C1", "]Q3", "]e0")):
        return 4 if code[3:4] == GS else 3
    return 1 if code.startswith(GS) else 0


def _full_path(code: str) -> object:
    start = _start(code)
    return _gs1_data(code, start, start == 0).to_json_dict()


@settings(max_examples=300, deadline=None)
@given(marking_codes(), st.data())
def test_common_shape_path_decides_like_the_full_parser(
    case: tuple[str, dict[str, str]], data: st.DataObject
) -> None:
    code, _ = case
    # Mutate one character after the prefix sometimes, so failing inputs near the pattern are covered too.
    if data.draw(st.booleans()):
        at = data.draw(st.integers(_start(code) + 1, len(code) - 1))
        code = code[:at] + data.draw(st.sampled_from(["0", "9", GS, "a", "2"])) + code[at + 1:]
    assert validate_code(code).to_json_dict() == _full_path(code)


def test_common_shape_covers_the_operator_shapes() -> None:
    gtin = gtin_with_check("0460043993125")
    for body in (
        f"01{gtin}21ABCDEFGHIJKLM{GS}91EE06{GS}92{'A' * 44}",
        f"01{gtin}21ABCDEFG{GS}8005012345{GS}93abcd",
        f"01{gtin}21ABCDEF{GS}93abcd{GS}3103001250",
        f"01{gtin}21ABCDEF{GS}17250101{GS}93abcd",
    ):
        assert COMMON_SHAPE.fullmatch(body), body


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from([*"0123456789", "9", "1", "2", GS, "]", "d", "a", "\\", "%", "/"]),
               max_size=60))
def test_any_input_gets_a_verdict(code: str) -> None:
    result = validate_code(code)
    assert result.ok == (result.error is None)
    assert result.to_json_dict() == _full_path(code) or not code or code[0] in "]h\x1d"

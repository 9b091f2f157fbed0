"""validate_code against cases built from the GS1 General Specifications, the syntax dictionary and the
marking profile, including what real scanners send (symbology ids, lost or literal GS, wrong layouts)."""

from __future__ import annotations

import pytest

from gateway.codes import CodeResult, validate_code
from gateway.codes.errors import CODE_ERRORS
from tests.codes.code_builders import (
    CRYPTO44,
    CRYPTO88,
    GS,
    GTIN,
    GTIN_BAD,
    GTIN_OTHER,
    SSCC,
    dairy,
    raw_pack,
    shoes,
    tobacco_block,
)

VALID = {
    "shoes 91+92(44)": shoes(),
    "shoes 92 of 88": shoes(check=CRYPTO88),
    "dairy 93": dairy(),
    "tobacco block": tobacco_block(),
    "]d2 DataMatrix": "]d2" + shoes(),
    "]C1 GS1-128": "]C1" + dairy(),
    "]Q3 GS1 QR": "]Q3" + dairy(),
    "]e0 DataBar": "]e0" + dairy(),
    "]d2 then FNC1 as GS": "]d2" + GS + shoes(),
    "leading GS (FNC1 in first position)": GS + shoes(),
    "one trailing GS": dairy() + GS,
    "GS after predefined-length 01": f"01{GTIN}{GS}21ABCDEF{GS}93abcd",
    "GS after predefined-length 17": f"01{GTIN}21ABCDEF{GS}17250100{GS}93abcd",
    "no GS after predefined-length 17": f"01{GTIN}17251231" f"21ABCDEF{GS}93abcd",
    "serial containing 91 and 92": shoes(serial="91EE0692ABCDE"),
    "serial containing 93 and 21": dairy(serial="93ab21"),
    "serial containing 8005": tobacco_block(serial="8005123"),
    "serial of only digits like AIs": f"01{GTIN}210101017{GS}93abcd",
    "crypto containing AI look-alikes": shoes(key="9193", check="92" * 22),
    "93 containing GS1 symbols": dairy(tail="%&'("),
    "identical repetition": f"01{GTIN}21ABCDEF{GS}01{GTIN}93abcd",
    "17 with day 00": f"01{GTIN}21ABCDEF{GS}17250200{GS}93abcd",
    "17 on 29 Feb of a leap year": f"01{GTIN}21ABCDEF{GS}17240229{GS}93abcd",
    "7003 expiry date-time": f"01{GTIN}21ABCDEF{GS}70032402292359{GS}93abcd",
    "dairy with net weight 3103": dairy() + f"{GS}3103001250",
    "10 batch and 11 production date": f"01{GTIN}11250115" f"10LOT-7{GS}21ABCDEF{GS}93abcd",
    "literal \\u001d text for GS": shoes().replace(GS, "\\u001d"),
    "literal \\x1D text for GS": dairy().replace(GS, "\\x1D"),
    "raw tobacco pack": raw_pack(),
    "raw tobacco pack after ]d1": "]d1" + raw_pack(),
    "raw tobacco pack after ]Q1": "]Q1" + raw_pack(),
    "Digital Link": f"https://id.gs1.org/01/{GTIN}/21/ABC%2F1?93=abcd&17=240229&linkType=all",
    "Digital Link with path prefix, upper case": f"HTTPS://BRAND.EXAMPLE/p/x/01/{GTIN}/21/ABCDEF?93=abcd",
    "Digital Link with 10 and 21 in order": f"http://e.kz/01/{GTIN}/10/L1/21/S1?91=EE06&92={CRYPTO44}",
    "Digital Link after ]Q1": f"]Q1https://id.gs1.org/01/{GTIN}/21/ABCDEF?93=abcd",
}


@pytest.mark.parametrize("code", VALID.values(), ids=VALID.keys())
def test_valid_codes_pass(code: str) -> None:
    result = validate_code(code)
    assert result.ok, (result.error, result.detail)
    assert result.error is None
    assert result.gtin == result.ais["01"]
    assert result.cis == "01" + result.ais["01"] + "21" + result.ais["21"]


def test_values_are_split_at_gs_not_at_look_alike_substrings() -> None:
    result = validate_code(shoes(serial="91EE0692ABCDE", key="9393", check="21" * 22))
    assert result.ais == {"01": GTIN, "21": "91EE0692ABCDE", "91": "9393", "92": "21" * 22}
    assert result.group == "light_industry"


def test_raw_pack_is_reported_as_01_and_21() -> None:
    result = validate_code(raw_pack(serial="a%b'c-1", rest="12AB34cd"))
    assert result.to_json_dict() == {
        "ok": True, "ais": {"01": GTIN, "21": "a%b'c-1"}, "gtin": GTIN, "cis": f"01{GTIN}21a%b'c-1",
        "group": "tobacco", "error": None, "detail": "",
    }


def test_groups_by_serial_shape() -> None:
    assert validate_code(tobacco_block()).group == "tobacco"
    assert validate_code(dairy()).group == "dairy_water"
    assert validate_code(shoes()).group == "light_industry"
    assert validate_code(dairy(serial="ABCDEFGHIJ")).group is None


def test_digital_link_values_are_decoded() -> None:
    result = validate_code(f"https://id.gs1.org/01/{GTIN}/21/A%25B?3103=001250&93=ab%2Fc")
    assert result.ok
    assert result.ais == {"01": GTIN, "21": "A%B", "3103": "001250", "93": "ab/c"}


INVALID = {
    # framing
    "empty": ("", "empty_input"),
    "only a symbology id": ("]d2", "empty_input"),
    "only GS": (GS, "empty_input"),
    "two leading GS": (GS + GS + dairy(), "double_gs"),
    "unknown symbology": ("]E0" + dairy(), "unknown_symbology"),
    "lower-case symbology": ("]D2" + dairy(), "unknown_symbology"),
    "plain ]d1 with element string": ("]d1" + dairy(), "not_gs1_data"),
    "]d2 with a URI": (f"]d2https://id.gs1.org/01/{GTIN}/21/A?93=abcd", "not_gs1_data"),
    # non-ASCII input
    "Cyrillic А look-alike in serial": (dairy(serial="Аb3!x%"), "non_ascii"),
    "Cyrillic С in crypto": (dairy(tail="a1С2"), "non_ascii"),
    "Russian keyboard layout": (f"01{GTIN}21фису{GS}93фису", "non_ascii"),
    "full-width digits": ("０１" + GTIN + "21ABC" + GS + "93abcd", "non_ascii"),
    "NBSP after code": (dairy() + "\u00a0", "non_ascii"),
    # GS handling
    "missing GS before 93": (f"01{GTIN}21ABC93XY93abcd", "missing_gs"),
    "missing GS before 91 and 92": (f"01{GTIN}215xKQ4ZbMm8Abc91EE0692{CRYPTO44}", "missing_gs"),
    "missing GS before 92 only": (f"01{GTIN}215xKQ4ZbMm8Abc{GS}91EE0692{CRYPTO44}", "missing_gs"),
    "missing GS after 8005": (f"01{GTIN}21-jSz)ab{GS}800501234593Zq9+", "missing_gs"),
    "two GS in a row": (f"01{GTIN}21ABCDEF{GS}{GS}93abcd", "double_gs"),
    "two trailing GS": (dairy() + GS + GS, "double_gs"),
    "GS inside GTIN": (f"01{GTIN[:8]}{GS}{GTIN[8:]}21A{GS}93abcd", "field_too_short"),
    # AIs and field lengths
    "unassigned AI 23x": (f"01{GTIN}21ABCDEF{GS}2399", "unknown_ai"),
    "unassigned AI 04": ("04" + GTIN + "21A", "unknown_ai"),
    "empty serial": (f"01{GTIN}21{GS}93abcd", "empty_field"),
    "AI at the end without data": (f"01{GTIN}21ABCDEF{GS}93", "empty_field"),
    "serial over 20": (f"01{GTIN}21ABCDEFGHIJKLMNOPQRSTU{GS}93abcd", "field_too_long"),
    "GTIN cut short at the end": ("01" + GTIN[:13], "field_too_short"),
    "8005 too short": (f"01{GTIN}21ABCDEFG{GS}800512345{GS}93abcd", "field_too_short"),
    # character sets
    "space in serial": (dairy(serial="AB CD1"), "bad_charset"),
    "tab in serial": (dairy(serial="AB\tCD1"), "bad_charset"),
    "backslash in serial": (dairy(serial="AB\\CD1"), "bad_charset"),
    "letter in GTIN": ("01" + GTIN[:5] + "O" + GTIN[6:] + "21A" + GS + "93abcd", "bad_charset"),
    "letter in 8005": (f"01{GTIN}21-jSz)ab{GS}8005O12345{GS}93Zq9+", "bad_charset"),
    "# is set 39, not set 82": (dairy(serial="AB#CD1"), "bad_charset"),
    "control character at AI position": (dairy() + GS + "\x04", "bad_charset"),
    # check digits and dates
    "GTIN check digit": (f"01{GTIN_BAD}21ABCDEF{GS}93abcd", "gtin_check_digit"),
    "raw pack GTIN check digit": (GTIN_BAD + "-jSz)abAAAA1234", "gtin_check_digit"),
    "SSCC check digit": ("00" + "046000000000000001", "check_digit"),
    "17 on 29 Feb of a common year": (f"01{GTIN}21ABCDEF{GS}17230229{GS}93abcd", "bad_date"),
    "17 month 13": (f"01{GTIN}21ABCDEF{GS}17251301{GS}93abcd", "bad_date"),
    "17 on 31 April": (f"01{GTIN}21ABCDEF{GS}17250431{GS}93abcd", "bad_date"),
    "7006 day 00 not allowed": (f"01{GTIN}21ABCDEF{GS}7006250100{GS}93abcd", "bad_date"),
    "7003 hour 24": (f"01{GTIN}21ABCDEF{GS}70032402292400{GS}93abcd", "bad_time"),
    "7003 minute 60": (f"01{GTIN}21ABCDEF{GS}70032402291260{GS}93abcd", "bad_time"),
    "7003 without time": (f"01{GTIN}21ABCDEF{GS}7003240229{GS}93abcd", "field_too_short"),
    "422 not a country": (f"01{GTIN}21ABCDEF{GS}422999{GS}93abcd", "bad_country"),
    # repetition and associations
    "01 repeated with another value": (f"01{GTIN}21ABCDEF{GS}01{GTIN_OTHER}93abcd", "conflicting_ai"),
    "21 repeated with another value": (f"01{GTIN}21ABCDEF{GS}21ABCDEG{GS}93abcd", "conflicting_ai"),
    "21 without 01": (f"21ABCDEF{GS}93abcd", "missing_required_ai"),
    "8005 without 01": (f"8005012345{GS}93abcd", "missing_required_ai"),
    "02 with 01": (f"01{GTIN}02{GTIN}37100", "excluded_ai"),
    "3103 with 3102": (dairy() + f"{GS}3103001250" + "3102001250", "excluded_ai"),
    # marking profile
    "GTIN only": ("01" + GTIN, "missing_serial"),
    "SSCC only": ("00" + SSCC, "missing_gtin"),
    "no crypto": (f"01{GTIN}21ABCDEFGHIJKLM", "missing_crypto"),
    "91 without 92": (f"01{GTIN}21ABCDEFGHIJKLM{GS}91EE06", "missing_crypto"),
    "92 without 91": (f"01{GTIN}21ABCDEFGHIJKLM{GS}92{CRYPTO44}", "missing_crypto"),
    "92 shorter than 44": (shoes(check=CRYPTO44[:43]), "truncated_crypto"),
    "92 of 30": (shoes(check=CRYPTO44[:30]), "truncated_crypto"),
    "91 of 3": (shoes(key="EE0"), "truncated_crypto"),
    "93 of 2": (dairy(tail="ab"), "truncated_crypto"),
    "92 between 44 and 88": (shoes(check=CRYPTO44 + "AB"), "bad_crypto_length"),
    "93 of 5": (dairy(tail="abcde"), "bad_crypto_length"),
    # Digital Link
    "Digital Link without primary key": ("https://id.gs1.org/21/ABC?93=abcd", "bad_digital_link"),
    "Digital Link qualifiers out of order": (f"https://e.kz/01/{GTIN}/21/S/10/L?93=abcd", "bad_digital_link"),
    "Digital Link unknown query AI": (f"https://e.kz/01/{GTIN}/21/S?04=abcd", "unknown_ai"),
    "Digital Link, non-attribute AI in query": (f"https://e.kz/01/{GTIN}?21=S&93=abcd", "bad_digital_link"),
    "Digital Link bad GTIN": (f"https://e.kz/01/{GTIN_BAD}/21/S?93=abcd", "gtin_check_digit"),
}


@pytest.mark.parametrize(("code", "token"), INVALID.values(), ids=INVALID.keys())
def test_invalid_codes_fail_with_their_token(code: str, token: str) -> None:
    result = validate_code(code)
    assert not result.ok
    assert (result.error, result.detail) == (token, result.detail)
    assert result.error in CODE_ERRORS
    assert result.detail


def test_profile_errors_keep_the_identity() -> None:
    result = validate_code(f"01{GTIN}21ABCDEFGHIJKLM")
    assert (result.ok, result.error, result.cis) == (False, "missing_crypto", f"01{GTIN}21ABCDEFGHIJKLM")
    assert result.ais == {"01": GTIN, "21": "ABCDEFGHIJKLM"}


def test_missing_gs_detail_says_where() -> None:
    result = validate_code(f"01{GTIN}21ABC93XY93abcd")
    assert "'93ab'" in result.detail


def test_non_ascii_details_name_the_likely_cause() -> None:
    assert "look-alike of Latin 'A'" in validate_code(dairy(serial="Аb3!x%")).detail
    assert "Russian keyboard layout" in validate_code(f"01{GTIN}21фису{GS}93фису").detail
    assert "full-width form of '0'" in validate_code("０１" + GTIN).detail
    assert "NBSP" in validate_code(dairy() + "\u00a0").detail


def test_result_json_has_stable_key_order() -> None:
    result = validate_code(dairy())
    assert isinstance(result, CodeResult)
    assert list(result.to_json_dict()) == ["ok", "ais", "gtin", "cis", "group", "error", "detail"]
    with pytest.raises(AttributeError):
        result.ok = False  # type: ignore[misc]

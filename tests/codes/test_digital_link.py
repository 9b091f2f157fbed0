"""The GS1 Digital Link URI grammar, table-driven: the standard's own examples (GS1 Digital Link URI Syntax,
sections 4-5, GTIN 09520123456788 and friends), then every rule of the path, percent-encoding and query,
each invalid URI with the stable error token it must get."""

from __future__ import annotations

import pytest

from gateway.codes import validate_code
from gateway.codes.digital_link import split_digital_link
from gateway.codes.errors import CODE_ERRORS
from gateway.codes.specs import InvalidCode
from tests.codes.code_builders import CRYPTO44, GTIN, GTIN_BAD

G = "09520123456788"  # the standard's example GTIN
SSCC = "952012345678912345"
GLN = "9520123456788"

# URI → the (AI, value) pairs it carries, in order: path first, then query attributes.
VALID: dict[str, list[tuple[str, str]]] = {
    # the standard's examples
    "https://id.gs1.org/01/09520123456788": [("01", G)],
    "https://id.gs1.org/01/09520123456788/22/2A": [("01", G), ("22", "2A")],
    "https://id.gs1.org/01/09520123456788/10/ABC123": [("01", G), ("10", "ABC123")],
    "https://id.gs1.org/01/09520123456788/21/12345": [("01", G), ("21", "12345")],
    "https://id.gs1.org/01/09520123456788/10/ABC1/21/12345?17=180426": [
        ("01", G), ("10", "ABC1"), ("21", "12345"), ("17", "180426"),
    ],
    "https://id.gs1.org/01/09520123456788?3103=000195": [("01", G), ("3103", "000195")],
    "https://example.com/01/09520123456788?3103=000195&3922=0299&17=201225": [
        ("01", G), ("3103", "000195"), ("3922", "0299"), ("17", "201225"),
    ],
    "https://id.gs1.org/00/952012345678912345": [("00", SSCC)],
    "https://id.gs1.org/00/952012345678912345?02=09520123456788&37=25&10=ABC123": [
        ("00", SSCC), ("02", G), ("37", "25"), ("10", "ABC123"),
    ],
    "https://id.gs1.org/414/9520123456788": [("414", GLN)],
    "https://id.gs1.org/414/9520123456788/254/32a%2Fb": [("414", GLN), ("254", "32a/b")],
    "https://example.com/8004/9520614141234567?01=9520123456788": [("8004", "9520614141234567"), ("01", G)],
    "https://brand.example.com/some-extra/pathinfo/01/09520123456788": [("01", G)],
    # 10 is a qualifier of 01, but not after the other qualifier order (235)
    "https://id.gs1.org/01/09520123456788/235/XYZ?10=ABC123": [("01", G), ("235", "XYZ"), ("10", "ABC123")],
    # scheme and host
    "http://id.gs1.org/01/09520123456788": [("01", G)],
    "HTTPS://ID.GS1.ORG/01/09520123456788": [("01", G)],
    "HTTP://e.kz/01/09520123456788": [("01", G)],
    "https://e.kz:8443/01/09520123456788": [("01", G)],
    "https://192.0.2.1/01/09520123456788": [("01", G)],
    "https://[2001:db8::1]/01/09520123456788": [("01", G)],
    "https://xn--80ak6aa92e.kz/01/09520123456788": [("01", G)],
    # path prefix: anything left of the rightmost primary key, even AI look-alikes
    "https://e.kz/00/faux/00/952012345678912345": [("00", SSCC)],
    "https://e.kz//01/09520123456788": [("01", G)],
    "https://e.kz/01/09520123456788/8004/9520614141234567": [("8004", "9520614141234567")],
    # every qualifier order of 01 and of other keys
    "https://e.kz/01/09520123456788/22/V/10/L/21/S": [("01", G), ("22", "V"), ("10", "L"), ("21", "S")],
    "https://e.kz/01/09520123456788/22/V/21/S": [("01", G), ("22", "V"), ("21", "S")],
    "https://e.kz/8006/095201234567880102/21/S": [("8006", "095201234567880102"), ("21", "S")],
    "https://e.kz/8018/952012345678912345/8019/123": [("8018", "952012345678912345"), ("8019", "123")],
    # percent-encoding: %hh in any case, a '%' not followed by two hex digits is itself, '+' is '+' in
    # the path and a space (refused later by set 82) in the query
    "https://e.kz/01/09520123456788/22/ABC%2d123?98=XYZ%2f987": [
        ("01", G), ("22", "ABC-123"), ("98", "XYZ/987"),
    ],
    "https://e.kz/01/09520123456788/22/ABC+123": [("01", G), ("22", "ABC+123")],
    "https://e.kz/01/09520123456788/21/A%25B%2": [("01", G), ("21", "A%B%2")],
    "https://e.kz/01/09520123456788/21/%41%62": [("01", G), ("21", "Ab")],
    "https://e.kz/01/09520123456788/21/A%2541": [("01", G), ("21", "A%41")],
    "https://e.kz/01/09520123456788?98=%2B1": [("01", G), ("98", "+1")],
    # sub-delimiters may stand unencoded in a path segment; '=' may stand in a query value
    "https://e.kz/01/09520123456788/21/a!*'(),;:": [("01", G), ("21", "a!*'(),;:")],
    "https://e.kz/01/09520123456788?99=a=b": [("01", G), ("99", "a=b")],
    # query: empty, stray '&', non-AI parameters (repeated too), parameters without '='
    "https://e.kz/01/09520123456788?": [("01", G)],
    "https://e.kz/01/09520123456788?&&&99=ABC&&&98=XYZ&&&": [("01", G), ("99", "ABC"), ("98", "XYZ")],
    "https://e.kz/01/09520123456788?linkType=gs1:pip&99=A&linkType=all&context=x": [("01", G), ("99", "A")],
    "https://e.kz/01/09520123456788?singleton&99=A&17": [("01", G), ("99", "A")],
    "https://e.kz/01/09520123456788?exp=261231&lot=A": [("01", G)],
    "https://e.kz/01/09520123456788?%31%37=261231": [("01", G)],
    # fragments are dropped, empty or not, after the path or the query
    "https://e.kz/01/09520123456788/21/S#": [("01", G), ("21", "S")],
    "https://e.kz/01/09520123456788/21/S#x/y?99=Z": [("01", G), ("21", "S")],
    "https://e.kz/01/09520123456788?99=A#frag": [("01", G), ("99", "A")],
}

# URI → the error token it must get.
INVALID: dict[str, str] = {
    # the case: a slash after the last path value, before the query or at the end
    "https://e.kz/01/04011755873111/21/z31038/?93=ZCnr": "bad_digital_link",
    "https://e.kz/01/09520123456788/": "bad_digital_link",
    "https://e.kz/stem/00/952012345678912345/": "bad_digital_link",
    "https://e.kz/01/09520123456788/21/S/#frag": "bad_digital_link",
    # scheme, characters and host
    "HtTpS://e.kz/01/09520123456788": "bad_digital_link",
    "Https://e.kz/01/09520123456788": "bad_digital_link",
    "https://e.kz/01/09520123456788/21/A B": "bad_digital_link",
    "https://e.kz/01/09520123456788/21/A\"B": "bad_digital_link",
    "https://e.kz/01/09520123456788/21/A|B": "bad_digital_link",
    "https://e.kz/01/09520123456788/21/A\x1dB": "bad_digital_link",
    "https://e.kz": "bad_digital_link",
    "https://e.kz?01=09520123456788": "bad_digital_link",
    "https:///01/09520123456788": "bad_digital_link",
    "https://user@e.kz/01/09520123456788": "bad_digital_link",
    "https://e_kz/01/09520123456788": "bad_digital_link",
    "https://[fe80::1%25lo]/01/09520123456788": "bad_digital_link",
    # path structure
    "https://e.kz/": "bad_digital_link",
    "https://e.kz/products": "bad_digital_link",
    "https://e.kz/21/ABC?93=abcd": "bad_digital_link",
    "https://e.kz/01": "bad_digital_link",
    "https://e.kz/01/09520123456788/21": "bad_digital_link",
    "https://e.kz/01/09520123456788/89/ABC": "bad_digital_link",
    "https://e.kz/01/09520123456788/21/S/extra": "bad_digital_link",
    "https://e.kz/01/09520123456788//21/S": "bad_digital_link",
    "https://e.kz/%30%31/09520123456788": "bad_digital_link",
    "https://e.kz/01/09520123456788/21/S/10/L": "bad_digital_link",
    "https://e.kz/01/09520123456788/21/S/22/V": "bad_digital_link",
    "https://e.kz/01/09520123456788/21/S/21/S": "bad_digital_link",
    "https://e.kz/01/09520123456788/10/L/235/T": "bad_digital_link",
    "https://e.kz/01/09520123456788/17/261231": "bad_digital_link",
    "https://e.kz/00/952012345678912345/21/S": "bad_digital_link",
    "https://e.kz/01//21/S": "empty_field",
    "https://e.kz/01/09520123456788/21/": "bad_digital_link",
    # deprecated forms: convenience alphas and zero-suppressed GTINs in the path
    "https://e.kz/gtin/09520123456788": "bad_digital_link",
    "https://e.kz/gtin/09520123456788/ser/ABC123": "bad_digital_link",
    "https://e.kz/01/09520123456788/ser/ABC123": "bad_digital_link",
    "https://e.kz/01/9520123456788": "bad_digital_link",
    "https://e.kz/01/416000336108": "bad_digital_link",
    "https://e.kz/01/02345673": "bad_digital_link",
    # query attributes
    "https://e.kz/01/09520123456788?89=ABC": "unknown_ai",
    "https://e.kz/01/09520123456788?99=ABC&999=faux": "unknown_ai",
    "https://e.kz/01/09520123456788?99=": "empty_field",
    "https://e.kz/01/09520123456788?=99": "bad_digital_link",
    "https://e.kz/01/09520123456788?21=S": "bad_digital_link",
    "https://e.kz/01/09520123456788?22=V": "bad_digital_link",
    "https://e.kz/01/09520123456788?10=ABC123": "bad_digital_link",
    "https://e.kz/01/09520123456788/21/S?10=L": "bad_digital_link",
    "https://e.kz/01/09520123456788/10/L?99=A&01=09520123456788": "bad_digital_link",
    "https://e.kz/01/09520123456788/10/L?10=L": "bad_digital_link",
    "https://e.kz/01/09520123456788?99=A&99=A": "bad_digital_link",
    "https://e.kz/01/09520123456788?17=261231;99=A": "field_too_long",
    # values, after decoding: checked like an element string's
    "https://e.kz/01/09520123456789": "gtin_check_digit",
    "https://e.kz/01/0952012345678": "bad_digital_link",
    "https://e.kz/01/095201234567880": "field_too_long",
    "https://e.kz/01/09520123456788?98=XYZ+987": "bad_charset",
    "https://e.kz/01/09520123456788/22/A%20B": "bad_charset",
    "https://e.kz/01/09520123456788/22/A%00B": "bad_charset",
    "https://e.kz/01/09520123456788/22/%C3%A9": "bad_charset",
    "https://e.kz/01/09520123456788?17=261301": "bad_date",
    "https://e.kz/01/09520123456788/21/ABCDEFGHIJKLMNOPQRSTU": "field_too_long",
    "https://e.kz/8004/9520614141234567?01=09520123456789": "gtin_check_digit",
    "https://e.kz/01/09520123456788?37=5": "excluded_ai",
}


@pytest.mark.parametrize(("uri", "pairs"), VALID.items(), ids=list(VALID))
def test_valid_uris_give_their_pairs(uri: str, pairs: list[tuple[str, str]]) -> None:
    assert split_digital_link(uri) == pairs


@pytest.mark.parametrize(("uri", "token"), INVALID.items(), ids=list(INVALID))
def test_invalid_uris_get_their_token(uri: str, token: str) -> None:
    result = validate_code(uri)
    assert (result.ok, result.error) == (False, token), result.detail
    assert token in CODE_ERRORS and result.detail
    assert result.ais == {} and result.cis is None  # nothing of a refused URI is trusted


def test_a_marking_code_as_digital_link() -> None:
    uri = f"https://id.gs1.org/01/{GTIN}/21/5xKQ4ZbMm8Abc?91=EE06&92={CRYPTO44}&17=261231&linkType=all"
    result = validate_code(uri)
    assert result.ok and result.group == "light_industry"
    assert result.ais == {"01": GTIN, "21": "5xKQ4ZbMm8Abc", "91": "EE06", "92": CRYPTO44, "17": "261231"}
    assert validate_code(f"]Q1https://id.gs1.org/01/{GTIN}/21/Ab3!x%25?93=a1B2").cis == f"01{GTIN}21Ab3!x%"


def test_the_details_say_what_to_write_instead() -> None:
    def detail(uri: str) -> str:
        with pytest.raises(InvalidCode) as caught:
            split_digital_link(uri)
        return caught.value.detail

    assert "ends with '/'" in detail(f"https://e.kz/01/{GTIN}/21/S/?93=abcd")
    assert "write '/01/'" in detail(f"https://e.kz/gtin/{GTIN}")
    assert GTIN in detail(f"https://e.kz/01/{GTIN[1:]}/21/S")
    assert "belongs in the path" in detail(f"https://e.kz/01/{GTIN}/21/S?10=L")
    assert "percent-encoded" in detail(f"https://e.kz/01/{GTIN}/21/S T")
    assert "not allowed after (01)" in detail(f"https://e.kz/01/{GTIN}/21/S/10/L")


def test_a_refused_uri_is_never_read_as_an_element_string() -> None:
    assert validate_code(f"hTTps://e.kz/01/{GTIN_BAD}/21/S?93=abcd").error == "bad_digital_link"

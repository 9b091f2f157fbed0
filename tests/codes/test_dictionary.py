"""The committed AI table is what the syntax dictionary says, and has the properties the parser relies on."""

from __future__ import annotations

from pathlib import Path

from gateway.codes import validate_code
from gateway.codes.ai_table import AI_TABLE
from gateway.codes.dictionary import generate, parse_dictionary
from gateway.codes.linters import LINTERS

REPO = Path(__file__).resolve().parents[2]
DICTIONARY = REPO.parent / "shared" / "data" / "gs1" / "gs1-syntax-dictionary.txt"
COMMITTED = REPO / "gateway" / "codes" / "ai_table.py"


def test_committed_table_is_regenerated_identically() -> None:
    # ../shared/data sits beside every checkout (CI's too): missing, the check must fail, not pass unrun.
    assert DICTIONARY.exists(), f"the GS1 syntax dictionary is not at {DICTIONARY}"
    assert generate(DICTIONARY) == COMMITTED.read_text(encoding="utf-8")


def test_ranges_are_expanded_and_flags_read() -> None:
    assert {f"310{n}" for n in range(6)} <= AI_TABLE.keys()
    assert "3106" not in AI_TABLE
    assert {str(n) for n in range(91, 100)} <= AI_TABLE.keys()
    fixed, dl_attribute, components, _req, ex, dlpkey, title = AI_TABLE["01"]
    assert (fixed, dl_attribute, components, ex, title) == (
        True, True, (("N", 14, 14, False, ("csum", "gcppos2")),), ("255", "37"), "GTIN"
    )
    assert dlpkey == (("22", "10", "21"), ("235",))
    assert AI_TABLE["21"][3] == (("01",), ("03",), ("8006",))
    assert AI_TABLE["8030"][3][1] == ("01", "21")
    assert AI_TABLE["423"][2][1] == ("N", 3, 3, True, ("iso3166",))


def test_ais_are_prefix_free_and_their_length_follows_from_two_digits() -> None:
    ais = list(AI_TABLE)
    assert not [(a, b) for a in ais for b in ais if a != b and b.startswith(a)]
    lengths: dict[str, set[int]] = {}
    for ai in ais:
        lengths.setdefault(ai[:2], set()).add(len(ai))
    assert all(len(v) == 1 for v in lengths.values())


def test_every_linter_of_the_dictionary_is_known() -> None:
    used = {linter for entry in AI_TABLE.values() for component in entry[2] for linter in component[4]}
    assert used <= LINTERS.keys()


def test_parser_reads_attributes_and_optional_components() -> None:
    text = "# comment\n4330  ?  N6 [X1],hyphen  req=00 ex=4331  # MAX TEMP F.\n"
    assert parse_dictionary(text) == {
        "4330": (False, True, (("N", 6, 6, False, ()), ("X", 1, 1, True, ("hyphen",))), (("00",),),
                 ("4331",), None, "MAX TEMP F."),
    }


def test_every_assigned_ai_parses_and_an_unassigned_one_does_not() -> None:
    """Each AI of the table is recognised by the parser (no hand-picked list)."""
    for ai in AI_TABLE:
        result = validate_code(ai)  # the AI alone: known, so the fault is its empty data, never unknown_ai
        assert result.error == "empty_field", (ai, result)
    assert validate_code("2399").error == "unknown_ai"


def test_docs_list_every_error_token() -> None:
    from gateway.codes.errors import CODE_ERRORS

    docs = (REPO / "docs" / "marking-codes.md").read_text(encoding="utf-8")
    assert [token for token in CODE_ERRORS if f"| `{token}` |" not in docs] == []

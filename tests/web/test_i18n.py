"""Every message the pages and the server use exists in English, Russian and Kazakh, and nowhere else."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.anomaly_kinds import FAMILIES, NAMES
from gateway.codes.profile import GROUP_BY_SERIAL_LENGTH
from gateway.codes.status_index import STATUSES
from gateway.i18n import LANGUAGES, catalogue, date_text, money, negotiate, translate
from gateway.ingest.code_verdicts import VERDICTS
from gateway.query.anomalies import CSV_COLUMNS
from gateway.query.anomalies import STATUSES as CASE_FILTERS
from gateway.query.books import RESULT_COLUMNS, parse_books
from gateway.query.books import STATUSES as BOOK_STATUSES
from gateway.query.code_statuses import CSV_COLUMNS as CODES_CSV_COLUMNS
from gateway.query.code_statuses import REASONS as CODE_REASONS
from gateway.query.reconcile import REJECTION_CODES

ROOT = Path(__file__).resolve().parents[2] / "gateway"
STATIC = ROOT / "web" / "static"
# Keys a page or the server builds from a closed set (prefix + member).
BUILT = {
    "kind.": NAMES,
    "family.": FAMILIES,
    "registry_status.": STATUSES,
    "code_status.": (
        *STATUSES[1:],
        "sold",
        "returned",
        "checked",
        "unseen",
        "not_visible",
        "unreadable",
        "unknown",
    ),
    "verdict.": VERDICTS,
    "event.": ("sale", "return", "check"),
    "operation.": ("SELL", "SELL_RETURN", "BUY", "BUY_RETURN"),
    "payment.": ("cash", "card", "credit", "tare", "mobile"),
    "register.paid.": ("cash", "card", "credit", "tare", "mobile"),
    "case.": ("open", "resolved"),
    "case.action.": ("assign", "unassign", "resolve", "reopen", "note", "take_over"),
    "scope.": ("admin", "analyst", "retailer"),
    "trace.owner.": ("you", "another", "none", "named"),
    "books.status.": BOOK_STATUSES,
    "books.column.": RESULT_COLUMNS,
    "csv.anomalies.": CSV_COLUMNS,
    "csv.codes.": CODES_CSV_COLUMNS,
    "error.": CODE_REASONS,  # why a code is unreadable (the many-codes page)
    "group.": (*GROUP_BY_SERIAL_LENGTH.values(), "unknown"),
    "advice.": (*REJECTION_CODES, "other"),
    "rejection.": (*REJECTION_CODES, "other"),
    **{
        f"text.{k}.": ("other", "another", "own", "earlier")
        for k in ("code_sold_twice", "code_clone", "code_not_owner")
    },
    "text.": ("clock_skew", "chain_fork", "line_sum_mismatch", "total_mismatch", "payment_mismatch",
              "change_exceeds_cash", "storno_unmatched", "tax_mismatch", "tax_total_mismatch", "bad_quantity",
              "shift_count_mismatch", "shift_payment_mismatch", "shift_document_range_mismatch", "cash_short",
              "shift_closed_twice", "shift_not_closed", "shift_out_of_order", "parent_register_unknown",
              "bad_amount", "bad_time", "missing_parent", "unknown_operation", "cancel_without_receipt",
              "z_report_missing", "same_taxpayer_and_customer"),
    "text.negative_amount.": ("line", "receipt", "payments"),
    "text.z_report_mismatch.": ("operation", "cash", "placement"),
    "cash.": ("deposit", "withdrawal", "unspecified"),
    # Units of measure (OKEI codes) the receipt page names; any other code is shown as sent.
    "measure.": ("796", "166", "163", "112", "111", "006", "055", "113", "715", "778", "839", "868", "other"),
}


def used_keys() -> set[str]:
    """Keys named literally in the pages (t("…"), data-i18n…) and the server (translate(…, "…"))."""
    found: set[str] = set()
    namespaces = {key.split(".")[0] for key in catalogue("en")}
    for path in [*STATIC.glob("*.js"), *STATIC.glob("pages/*.js")]:
        # Every string literal shaped like a key of a catalogue namespace: t("a.b"), t(c ? "a.b" : "a.c"),
        # [["dashboard", "nav.dashboard"], …] alike.
        literals = re.findall(r'"([a-z_]+\.[a-z0-9_.]*)"', path.read_text())
        found |= {k for k in literals if k.split(".")[0] in namespaces and not k.endswith((".csv", ".xlsx"))}
    for path in STATIC.glob("*.html"):
        found |= set(re.findall(r'data-i18n(?:-placeholder|-label|-staff)?="([^"]+)"', path.read_text()))
    for path in ROOT.rglob("*.py"):
        text = path.read_text()
        found |= set(re.findall(r'translate\(\s*\w+(?:\.\w+)?,\s*"([a-z0-9_.]+)"', text))
        # An error a person reads names its text by key: GatewayError(…, key="error.…").
        found |= {k for k in re.findall(r'\bkey="([a-z0-9_.]+)"', text) if k.split(".")[0] in namespaces}
    return found


def needed_keys() -> set[str]:
    """Every key some page or answer may ask for (a prefix such as t("kind." + k) must be a known set)."""
    used = used_keys()
    prefixes = {k for k in used if k.endswith(".")}
    assert prefixes <= set(BUILT), f"keys built from sets nobody lists here: {prefixes - set(BUILT)}"
    built = {prefix + member for prefix, members in BUILT.items() for member in members}
    return (used - prefixes) | built


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_key_exists_in_every_language(lang: str) -> None:
    missing = sorted(needed_keys() - set(catalogue(lang)))
    assert not missing, f"{lang} lacks {missing}"
    assert set(catalogue(lang)) == set(catalogue("en")), "the three catalogues hold the same keys"


def test_placeholders_agree_across_languages() -> None:
    for key, english in catalogue("en").items():
        names = set(re.findall(r"\{(\w+)\}", english))
        for lang in LANGUAGES:
            assert set(re.findall(r"\{(\w+)\}", catalogue(lang)[key])) == names, (lang, key)


def test_the_scan_finds_the_keys_the_pages_use() -> None:
    used = used_keys()
    assert {"nav.dashboard", "login.wrong_token", "anomalies.total", "case.take", "books.covers"} <= used
    assert "dashboard.receipts_day" in used  # chosen by a condition: t(hourly ? "…" : "…")
    assert {"error.no_register", "error.unknown_error_code"} <= used  # GatewayError(…, key="…")
    assert {"register.refused", "register.unproven_latest"} <= used  # the register page's rejected events


def test_language_is_negotiated_from_the_switch_then_the_browser() -> None:
    assert negotiate(None, None, "kk-KZ,kk;q=0.9,ru;q=0.8,en;q=0.5") == "kk"
    assert negotiate(None, None, "de-DE, ru;q=0.7, en;q=0.8") == "en"
    assert negotiate(None, "ru", "kk") == "ru"  # the switch sticks over the browser
    assert negotiate("kk", "ru", "en") == "kk"
    assert negotiate(None, "xx", "fr") == "en"


def test_money_and_dates_as_each_language_writes_them() -> None:
    assert money(123450, "ru") == "1\u00a0234,50" and money(-1500, "en") == "-15.00"
    assert date_text("2026-09-03", "kk") == "03.09.2026" and date_text("2026-09-03", "en") == "2026-09-03"
    assert translate("ru", "text.code_expired", date="03.09.2026") == "срок годности истёк 03.09.2026"
    assert CASE_FILTERS[0] == "open"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_books_example_is_in_the_readers_language_and_reads_as_books(lang: str) -> None:
    header, row = translate(lang, "books.example_header"), translate(lang, "books.example_row")
    [entry] = parse_books(f"{header}\n{row}\n".encode(), lang)
    assert (entry.document_number, entry.total) == (17, 123450)
    others = {translate(other, "books.example_header") for other in LANGUAGES if other != lang}
    assert header not in others, lang  # Kazakh has its own, not the Russian one


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_the_register_pages_rejected_events_are_written_in_each_language(lang: str) -> None:
    prefixes = ("register.refused", "register.unproven", "register.no_refused")
    keys = [k for k in catalogue("en") if k.startswith(prefixes)]
    keys += ["error.no_register", "error.unknown_error_code"]
    assert len(keys) > 15
    for key in keys:
        text = translate(lang, key)
        assert text != translate("en", key) and re.search("[а-яА-ЯәғқңөұүһіӘҒҚҢӨҰҮҺІ]", text), (lang, key)

"""What an outside tester found walking the pages at 1280 and 390 px in English, Russian and Kazakh, in
headless chromium: every figure on a phone's screen, units that never wrap, the reader's words for every
status and error, ?lang= in an address, buttons that fit the case's state, no stale counters beside an
error."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from gateway.ingest.receipt_validation import expected_included_tax
from gateway.wire import pb
from tests.analyst.browser import Browser
from tests.analyst.conftest import GOLDEN_DAY, GOLDEN_TIN, Loaded, registered
from tests.analyst.test_pages import ARTIFACTS, _login, _open, pytestmark  # noqa: F401
from tests.e2e.chain_builder import sale

PHONE = 390
QUEUE = "document.querySelectorAll('#queue tbody tr').length > 0"
# The right edges of the elements a selector finds, as laid out now (the page not scrolled sideways).
RIGHTS = (
    "[...document.querySelectorAll({sel})].filter(e => e.offsetParent)"
    ".map(e => e.getBoundingClientRect().right)"
)


@pytest.fixture(scope="module")
def b(browser: Browser) -> Browser:
    """The module's chromium, by a short name."""
    return browser


def _rights(b: Browser, selector: str) -> list[float]:
    rights: list[float] = b.evaluate(RIGHTS.replace("{sel}", json.dumps(selector)))
    return rights


def _on_phone(b: Browser) -> None:
    b.viewport(PHONE, 844, mobile=True)


def _fits(b: Browser, path: str, selector: str) -> None:
    """Every cell the selector finds is on a phone's screen, and the page is no wider than the phone."""
    rights = _rights(b, selector)
    assert rights, (path, selector)
    assert max(rights) <= PHONE, (path, selector, max(rights))
    width = b.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE, f"{path} is {width} px wide on a {PHONE} px phone"


def test_the_queue_shifts_reports_and_books_show_every_figure_on_a_phone(
    loaded: Loaded, b: Browser, tmp_path: Path
) -> None:
    _login(b, loaded, loaded.analyst)
    _on_phone(b)
    try:
        _open(b, loaded, "/ui/anomalies", QUEUE)
        _fits(b, "/ui/anomalies", "#queue td")
        # The plain words are read across the screen, not squeezed into a sliver a word breaks in.
        widths = b.evaluate("[...document.querySelectorAll('#queue td.detail')].map(e => e.clientWidth)")
        assert min(widths) >= 250, widths
        b.screenshot(ARTIFACTS / "phone-anomalies-cards.png")
        day = f"/ui/reconcile?tin={GOLDEN_TIN}&date={GOLDEN_DAY}"
        _open(b, loaded, day, "document.querySelector('#summary')")
        _fits(b, "/ui/reconcile", "section.shift td")
        b.screenshot(ARTIFACTS / "phone-reconcile-figures.png")
        device = loaded.gw.sql(
            f"SELECT device_id FROM tracegate.shifts WHERE seller_tin = '{GOLDEN_TIN}'"
            " ORDER BY device_id LIMIT 1"
        )[0][0]
        _open(b, loaded, f"/ui/register?device={device}", "document.querySelector('#z-reports')")
        _fits(b, "/ui/register", "#z-reports td.num")
        b.screenshot(ARTIFACTS / "phone-register-cards.png")
        _open(b, loaded, "/ui/export", "document.querySelector('#export button').textContent")
        _fits(b, "/ui/export", "main pre")
    finally:
        b.viewport(1280)
    # A retailer's books, compared on a phone: the amounts are on screen.
    rows = loaded.gw.sql(
        "SELECT document_number, device_id, toUnixTimestamp64Milli(event_time), total FROM tracegate.receipts"
        " WHERE device_id = 'golden-0001' ORDER BY document_number LIMIT 3"
    )
    lines = ["document_number;device_id;time;total"] + [
        f"{doc};{dev};{time.strftime('%Y-%m-%d %H:%M', time.gmtime(ms / 1000 + 5 * 3600))};{total / 100:.2f}"
        for doc, dev, ms, total in rows
    ]
    books = tmp_path / "books.csv"
    books.write_text("\n".join(lines))
    _login(b, loaded, loaded.retailer_a)
    _on_phone(b)
    try:
        _open(b, loaded, "/ui/books", f"document.querySelector('#tin').value === '{GOLDEN_TIN}'")
        b.set_file("#file", books)
        b.click("#upload button")
        b.wait_for("document.querySelector('#rows')")
        _fits(b, "/ui/books", "#rows td.num")
        b.screenshot(ARTIFACTS / "phone-books-cards.png")
    finally:
        b.viewport(1280)


def _units_receipt(loaded: Loaded) -> str:
    """A receipt of pieces, kilograms and bottles (OKEI 796, 166, 868): its page address."""
    device = "units-walk"
    if not loaded.gw.sql(f"SELECT count() FROM tracegate.receipts WHERE device_id = '{device}'")[0][0]:
        register = registered(loaded.gw, device, "770101300002", "ALM-WALK")
        lines = [("Tea", 1000, "796", 1000), ("Apples", 1940, "166", 89000), ("Water", 2000, "868", 300)]
        total = sum(quantity * price // 1000 for _, quantity, _, price in lines)
        receipt = pb.Receipt(
            operation=pb.SELL, shift_number=1, document_number=1, shift_document_number=1, total=total,
            payments=[pb.Payment(type=pb.CASH, sum=total)],
            lines=[
                pb.ReceiptLine(
                    name=name, quantity=quantity, unit=unit, price=price, sum=quantity * price // 1000,
                    taxes=[pb.Tax(tax_type=100, rate_bp=1200,
                                  sum=expected_included_tax(quantity * price // 1000, 1200))],
                )
                for name, quantity, unit, price in lines
            ],
        )
        event = pb.Event(time_ms=int(time.time() * 1000), receipt=receipt)
        ack = loaded.gw.ingest([register.envelope(event)])
        assert ack.acks[0].status == pb.ACCEPTED, ack
    deadline = time.monotonic() + 30
    lines_sql = f"SELECT count() FROM tracegate.receipt_lines WHERE device_id = '{device}'"
    while not loaded.gw.sql(lines_sql)[0][0]:
        assert time.monotonic() < deadline, "the receipt never reached the store"
        time.sleep(0.2)
    return f"/ui/receipt?device={device}&seq=1"


# How many lines each unit cell's text takes.
UNIT_LINES = (
    "[...document.querySelectorAll('#lines td.unit')].map(c => { const r = document.createRange();"
    " r.selectNodeContents(c);"
    " return [c.innerText, new Set([...r.getClientRects()].map(x => Math.round(x.top))).size]; })"
)


def test_a_unit_of_measure_never_wraps(loaded: Loaded, b: Browser) -> None:
    path = _units_receipt(loaded)
    for lang in ("kk", "ru", "en"):
        _login(b, loaded, loaded.analyst, lang)
        for width in (1280, PHONE):
            b.viewport(width, 844, mobile=width == PHONE)
            try:
                _open(b, loaded, path, "document.querySelector('#lines td.unit')")
                units = b.evaluate(UNIT_LINES)
                assert units and all(n == 1 for _, n in units), (lang, width, units)
            finally:
                b.viewport(1280)
    assert [u for u, _ in units] == ["pcs", "kg", "btl"]


def test_the_header_keeps_to_one_line_at_1280_in_every_language(loaded: Loaded, b: Browser) -> None:
    for lang in ("kk", "ru", "en"):
        _login(b, loaded, loaded.analyst, lang)
        b.wait_for("document.querySelector('#who').textContent.length > 0")
        tops = b.evaluate(
            "[...document.querySelectorAll('header > *, header nav a')]"
            ".map(e => Math.round(e.getBoundingClientRect().top))"
        )
        assert max(tops) - min(tops) <= 6, (lang, tops)


def _buyers_receipts(loaded: Loaded) -> dict[int, str]:
    """Two receipts naming a buyer, with and without consent to keep the contacts: seq -> protection."""
    device = "buyer-walk"
    if not loaded.gw.sql(f"SELECT count() FROM tracegate.events WHERE device_id = '{device}'")[0][0]:
        register = registered(loaded.gw, device, "770101300003", "ALM-BUYER")
        now = int(time.time() * 1000)
        consent = pb.BuyerContacts(
            email="buyer@example.kz", consent_purpose="e-receipt", consent_expires_ms=now + 86_400_000
        )
        events = []
        for number, buyer in ((1, consent), (2, pb.BuyerContacts(email="someone@example.kz"))):
            event = sale(1500, time_ms=now - 1000 + number)
            event.receipt.document_number = number
            event.receipt.buyer.CopyFrom(buyer)
            events.append(register.envelope(event))
        assert [a.status for a in loaded.gw.ingest(events).acks] == [pb.ACCEPTED] * 2
    deadline = time.monotonic() + 30
    sql = f"SELECT seq, protection FROM tracegate.events WHERE device_id = '{device}' ORDER BY seq"
    while len(rows := loaded.gw.sql(sql)) < 2:
        assert time.monotonic() < deadline, "the receipts never reached the store"
        time.sleep(0.2)
    return {int(seq): str(protection) for seq, protection in rows}


def test_a_withheld_event_says_sealed_or_erased_in_the_readers_words(loaded: Loaded, b: Browser) -> None:
    from gateway.i18n import catalogue

    withheld = _buyers_receipts(loaded)
    assert "erased" in withheld.values(), withheld  # no consent: the contacts are not kept
    for lang in ("en", "ru", "kk"):
        _login(b, loaded, loaded.analyst, lang)
        for seq, protection in withheld.items():
            page = f"/ui/receipt?device=buyer-walk&seq={seq}"
            _open(b, loaded, page, "document.querySelector('#original')")
            said = b.text("#original")
            assert catalogue(lang)[f"receipt.{protection}"] in said, (lang, protection, said)
            assert "(erased)" not in said and "(sealed)" not in said, said
            if protection == "erased":
                assert catalogue(lang)["receipt.sealed"] not in said, said


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_a_malformed_incident_or_receipt_id_is_said_in_the_readers_language(
    loaded: Loaded, b: Browser, lang: str
) -> None:
    from gateway.i18n import catalogue

    _login(b, loaded, loaded.analyst, lang)
    for path, key in (
        ("/ui/anomalies?incident=deadbeef", "error.no_incident"),
        ("/ui/receipt?device=x&seq=abc", "error.no_receipt"),
    ):
        _open(b, loaded, path, "document.querySelector('main .error')")
        said = b.text("main .error")
        assert said == catalogue(lang)[key], (path, said)
        assert "no such" not in b.text("main").lower(), path


@pytest.mark.parametrize("lang", ["ru", "kk", "en"])
def test_the_dashboards_durations_and_sizes_are_written_as_the_language_writes_numbers(
    loaded: Loaded, b: Browser, lang: str
) -> None:
    from gateway.i18n import catalogue

    words = catalogue(lang)
    _login(b, loaded, loaded.analyst, lang)
    b.wait_for("document.querySelector('#max-delay')")
    # 1,234.5 (en); 1 234,5 (ru, kk): a decimal comma as their money has.
    figure = r"[\d,]*\d\.\d" if lang == "en" else r"[\d\s\u00a0\u202f]*\d,\d"
    for cell, unit in (("#median-delay", "unit.s"), ("#max-delay", "unit.h")):
        said = b.text(cell)
        assert re.fullmatch(f"{figure} {re.escape(words[unit])}", said), said
    if b.evaluate("!!document.querySelector('#journal')"):
        said = b.text("#journal")
        assert re.fullmatch(r"[\d\s\u00a0\u202f,.]+ (\S+)", said) and said.split()[-1] in {
            words[u] for u in ("unit.b", "unit.kb", "unit.mb", "unit.gb")
        }, said
        if lang != "en":
            assert not said.endswith(" B"), said


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_an_unreadable_code_says_why_in_the_readers_language_on_the_page_and_in_excel(
    loaded: Loaded, b: Browser, lang: str
) -> None:
    from gateway.i18n import catalogue

    words = catalogue(lang)
    status, answer = loaded.post("/v1/codes/statuses", loaded.retailer_a, b"not-a-code\n")
    assert status == 200 and answer["items"][0]["reason"] == "not_a_code", answer
    status, excel = loaded.post(
        "/v1/codes/statuses", loaded.retailer_a, b"not-a-code\n", format="csv", dialect="excel", lang=lang
    )
    assert status == 200 and words["error.not_a_code"] in excel and "This is not" not in excel, excel
    _login(b, loaded, loaded.retailer_a, lang)
    _open(b, loaded, "/ui/codes", "document.querySelector('#check button').textContent")
    b.evaluate("document.querySelector('#pasted').value = 'not-a-code'")
    b.click("#check button")
    b.wait_for("document.querySelector('#statuses')")
    said = b.text("#statuses td.bad")
    assert said == f"{words['code_status.unreadable']}: {words['error.not_a_code']}", said


def test_lang_in_a_page_address_wins_over_the_cookie_and_the_switch_still_works(
    loaded: Loaded, b: Browser
) -> None:
    _login(b, loaded, loaded.analyst, "ru")
    _open(b, loaded, "/ui/dashboard?lang=kk", "document.querySelector('header nav a')")
    assert b.evaluate("document.documentElement.lang") == "kk" and b.text("header nav a") == "Жиынтық"
    _open(b, loaded, "/ui/trace", "document.querySelector('header nav a')")
    assert b.evaluate("document.documentElement.lang") == "kk"  # the address's choice sticks
    _open(b, loaded, "/ui/codes?lang=kk", "document.querySelector('header nav a')")
    b.evaluate(
        "document.querySelector('#lang').value = 'en';"
        " document.querySelector('#lang').dispatchEvent(new Event('change'))"
    )
    b.wait_for("document.documentElement.lang === 'en' && document.querySelector('header nav a')")
    assert "lang=" not in b.evaluate("location.search") and b.evaluate("location.pathname") == "/ui/codes"


def test_two_findings_of_one_line_say_which_code_each_is_about(loaded: Loaded, b: Browser) -> None:
    from tests.analyst.conftest import _code

    device = "two-codes-walk"
    if not loaded.gw.sql(f"SELECT count() FROM tracegate.receipts WHERE device_id = '{device}'")[0][0]:
        register = registered(loaded.gw, device, GOLDEN_TIN, "A-STORE-1")
        event = sale(2500, time_ms=int(time.time() * 1000))
        first, second = _code(9301), _code(9302)  # in no registry: each an unknown code
        event.receipt.lines[0].marking_codes.extend([first, second])
        event.receipt.lines[0].gtin = first[2:16]
        assert loaded.gw.ingest([register.envelope(event)]).acks[0].status == pb.ACCEPTED
    deadline = time.monotonic() + 30
    sql = f"SELECT kind, count() c FROM tracegate.anomalies WHERE device_id = '{device}' GROUP BY kind"
    while not any(int(c) >= 2 for _, c in loaded.gw.sql(sql)):
        assert time.monotonic() < deadline, loaded.gw.sql(sql)
        time.sleep(0.2)
    _login(b, loaded, loaded.analyst)
    _open(b, loaded, f"/ui/receipt?device={device}&seq=1", "document.querySelector('#receipt-anomalies')")
    said = b.evaluate("[...document.querySelectorAll('#receipt-anomalies li')].map(li => li.innerText)")
    assert len(said) == len(set(said)), said
    assert any("line 1, code 0" in s for s in said), said


def test_case_buttons_offer_only_what_makes_sense_now(loaded: Loaded, b: Browser) -> None:
    _, page = loaded.get("/v1/anomalies", loaded.analyst, tin=GOLDEN_TIN, status="unassigned", limit=30)
    incident = page["items"][-1]["id"]
    _login(b, loaded, loaded.analyst)
    _open(b, loaded, f"/ui/anomalies?incident={incident}", "document.querySelector('#case-state')")
    state = (
        "['assign', 'unassign', 'resolve', 'reopen'].map(a =>"
        " document.querySelector(`#incident button[data-action=${a}]`)?.disabled ?? null)"
    )
    assert b.evaluate(state) == [False, True, False, None]  # nobody's: take it (or resolve it)
    b.click("#incident button[data-action=assign]")
    b.wait_for("document.querySelector('#incident button[data-action=unassign]:not([disabled])')")
    assert b.evaluate(state) == [True, False, False, None]  # mine: not taken again
    b.click("#incident button[data-action=resolve]")
    b.wait_for("document.querySelector('#incident button[data-action=reopen]')")
    assert b.evaluate(state) == [True, True, None, False]  # resolved: reopen it first


def test_no_counters_of_an_earlier_answer_stand_beside_an_error(loaded: Loaded, b: Browser) -> None:
    _login(b, loaded, loaded.analyst)
    panel_error = "document.querySelector('#incident .error') && " + QUEUE
    _open(b, loaded, "/ui/anomalies?incident=deadbeef", panel_error)
    assert b.text("#total") and not b.evaluate("document.querySelector('#result .error')")  # the list stands
    _open(b, loaded, "/ui/anomalies?status=bogus", "document.querySelector('#result .error')")
    assert b.text("#total") == "" and b.text("#page") == ""
    assert b.evaluate("document.querySelector('#next').disabled")
    _open(b, loaded, "/ui/receipts?amount=abc", "document.querySelector('#result .error')")
    assert b.text("#page") == "" and b.evaluate("document.querySelector('#next').disabled")


def test_english_counts_say_one_and_many_without_parenthesised_plurals(loaded: Loaded, b: Browser) -> None:
    _login(b, loaded, loaded.analyst)
    _open(b, loaded, "/ui/anomalies?kind=shift_receipts_mismatch", QUEUE)
    b.wait_for("document.querySelector('#total').innerText.length > 0")
    rules = "(n) => new Intl.PluralRules('{lang}').select(n)"
    assert b.evaluate(f"[1, 2, 5].map({rules.format(lang='ru')})") == ["one", "few", "many"]  # ICU is there
    total, page, kinds = b.text("#total"), b.text("#page"), b.text("#kind-summary")
    assert "(s)" not in total + page + kinds, (total, page, kinds)
    assert re.fullmatch(r"1 incident matches|\d+ incidents match", total), total
    assert re.fullmatch(r"page 1 · (1 row|\d+ rows)", page), page
    assert kinds == "1 kind chosen", kinds
    one = b.evaluate("[t('trace.counts', {sales: 1, returns: 0}), t('books.outside', {n: 1})]")
    assert one == ["1 sale, 0 returns", "1 row of your file lies outside these days."], one


@pytest.mark.parametrize("lang", ["en", "kk"])
def test_a_receipt_address_without_a_receipt_says_so_and_leads_to_the_list(
    loaded: Loaded, b: Browser, lang: str
) -> None:
    from gateway.i18n import catalogue

    _login(b, loaded, loaded.retailer_a, lang)
    _open(b, loaded, "/ui/receipt", "document.querySelector('#empty a')")
    assert catalogue(lang)["receipt.none_named"] in b.text("#empty")
    assert b.evaluate("new URL(document.querySelector('#empty a').href).pathname") == "/ui/receipts"

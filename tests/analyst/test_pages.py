"""The pages in headless chromium, as an analyst and as a retailer, one test per task; screenshots are kept
in tests/artifacts/ (CI keeps them as artifacts)."""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from pathlib import Path

import pytest

from gateway.ingest.receipt_validation import expected_included_tax
from gateway.query.anomaly_cases import MAX_NOTE
from gateway.wire import pb
from tests.analyst.browser import NEEDS_CHROMIUM
from tests.analyst.conftest import (
    A_DEVICE,
    B_DEVICE,
    B_STORE,
    EXPIRED_ON,
    FORGED_DEVICE,
    GOLDEN_DAY,
    GOLDEN_TIN,
    REFUSING_DEVICE,
    SILENT_DEVICE,
    Loaded,
    refusing_register,
    registered,
)
from tests.analyst.test_isolation import other_sellers_identifiers
from tests.e2e.chain_builder import ChainedRegister, sale

ARTIFACTS = Path(__file__).parent.parent / "artifacts"

pytestmark = [pytest.mark.clickhouse, NEEDS_CHROMIUM]



def _b(browser: object) -> object:
    from tests.analyst.browser import Browser

    assert isinstance(browser, Browser)
    return browser


def _login(browser: object, loaded: Loaded, token: str, lang: str = "en") -> None:
    from tests.analyst.browser import Browser

    assert isinstance(browser, Browser)
    browser.viewport(1280)
    browser.goto(loaded.gw.url + "/ui/login")
    browser.evaluate(f"sessionStorage.clear(); document.cookie = 'tracegate_lang={lang}; path=/'")
    browser.goto(loaded.gw.url + "/ui/login")
    browser.wait_for("document.querySelector('#login button').textContent.length > 0")
    browser.fill("#token", token)
    browser.click("#login button")
    # The dashboard's address, then its header (drawn once the reader's messages have loaded).
    browser.wait_for("location.pathname === '/ui/dashboard' && document.querySelector('header nav a') !== null")


def _open(browser: object, loaded: Loaded, path: str, ready: str) -> None:
    from tests.analyst.browser import Browser

    assert isinstance(browser, Browser)
    browser.goto(loaded.gw.url + path)
    browser.wait_for(ready)


def test_a_wrong_token_at_sign_in_says_so(loaded: Loaded, browser: object) -> None:
    from tests.analyst.browser import Browser

    assert isinstance(browser, Browser)
    browser.goto(loaded.gw.url + "/ui/dashboard")
    browser.wait_for("location.pathname === '/ui/login'")  # no token yet: sent to log in
    browser.wait_for("document.querySelector('#login button').textContent.length > 0")
    browser.fill("#token", "tg_ana_not-a-token")
    browser.click("#login button")
    browser.wait_for("document.querySelector('#result .error')")
    assert "not valid" in browser.text("#result") and browser.evaluate("location.pathname") == "/ui/login"
    browser.screenshot(ARTIFACTS / "login-wrong-token.png")


def test_sign_in_speaks_to_people_and_refuses_a_blank_token(loaded: Loaded, browser: object) -> None:
    from tests.analyst.browser import Browser

    assert isinstance(browser, Browser)
    browser.goto(loaded.gw.url + "/ui/login")
    browser.evaluate("sessionStorage.clear(); document.cookie = 'tracegate_lang=en; path=/'")
    browser.goto(loaded.gw.url + "/ui/login")
    browser.wait_for("document.querySelector('#login button').textContent.length > 0")
    assert "administrator" in browser.text("main p") and "`" not in browser.text("main")
    assert not browser.evaluate("document.querySelector('#operator').open")  # the command is folded away
    browser.fill("#token", "   ")
    browser.click("#login button")
    browser.wait_for("document.querySelector('#result .error')")
    assert "empty" in browser.text("#result") and browser.evaluate("sessionStorage.length") == 0


def test_analyst_dashboard_range_axes_and_links(loaded: Loaded, browser: object) -> None:
    from tests.analyst.browser import Browser

    assert isinstance(browser, Browser)
    _login(browser, loaded, loaded.analyst)
    browser.wait_for("document.querySelectorAll('svg.chart rect').length > 0")
    assert "analyst" in browser.text("#who") and int(browser.text("#events")) > 0
    assert "UTC+5" in browser.text("#period") and "receipts per hour" in browser.text().lower()
    label = browser.evaluate("document.querySelector('svg.chart').getAttribute('aria-label')")
    assert "Receipts" in label and "UTC+5" in label
    assert browser.evaluate("document.querySelectorAll('svg.chart line.grid').length") >= 2  # value axis
    # The golden day, months back: the range is honoured (by day), every kind is a link into the queue.
    _open(
        browser,
        loaded,
        "/ui/dashboard?preset=custom&since=2026-01-10&until=2026-01-20",
        "document.querySelector('#by-kind a')",
    )
    assert "per day" in browser.text().lower()
    browser.screenshot(ARTIFACTS / "dashboard-analyst.png")
    href = browser.evaluate(
        "[...document.querySelectorAll('#by-kind a')].find(a => a.textContent.includes('72 h')).href"
    )
    assert "kind=late_upload" in href and "since=2026-01-10" in href
    browser.goto(href)
    browser.wait_for("document.querySelectorAll('#queue tr').length > 1")
    assert browser.evaluate("document.querySelector('#kinds input[value=late_upload]').checked")
    assert browser.evaluate("document.querySelector('#since').value") == "2026-01-10"
    assert browser.evaluate("document.querySelector('#until').value") == "2026-01-20"  # the day, inclusive
    seller = browser.evaluate("document.querySelectorAll('#queue tr')[1].children[2].textContent")
    assert seller == GOLDEN_TIN


def test_analyst_works_the_queue(loaded: Loaded, browser: object) -> None:
    from tests.analyst.browser import Browser

    assert isinstance(browser, Browser)
    _login(browser, loaded, loaded.analyst)
    _open(browser, loaded, "/ui/anomalies", "document.querySelectorAll('#queue tr').length > 1")
    assert re.fullmatch(r"\d+ incidents match", browser.text("#total")), browser.text("#total")
    # The kind picker is the one list of kinds; the filter goes into the URL (bookmarkable).
    browser.evaluate("document.querySelector('#kinds input[value=shift_receipts_mismatch]').click()")
    browser.click("#filters button")
    browser.wait_for("document.querySelectorAll('#queue tr').length === 2")
    assert FORGED_DEVICE in browser.text("#queue") and browser.text("#total") == "1 incident matches"
    assert "kind=shift_receipts_mismatch" in browser.evaluate("location.search")
    assert "30.00" in browser.text("#queue")  # money in plain words, not minor units
    browser.goto(browser.evaluate("location.href"))  # the bookmarked view, opened again
    browser.wait_for("document.querySelectorAll('#queue tr').length === 2")
    # A double sale is one incident with its facets; it opens, is taken, noted and resolved.
    _open(
        browser,
        loaded,
        f"/ui/anomalies?device={A_DEVICE}&kind=code_clone",
        "document.querySelectorAll('#queue tr').length === 2",
    )
    assert browser.evaluate("document.querySelectorAll('#queue tr')[1].querySelectorAll('.pill').length") == 3
    assert loaded.tin_b in browser.text("#queue") and B_STORE in browser.text("#queue")  # staff see who
    assert "the same code was sold before" not in browser.text("#queue")  # "sold before by …" said once
    browser.click("#queue button.open")
    browser.wait_for("!document.querySelector('#incident').hidden && document.querySelector('#case-state')")
    facets = browser.text("#facets")  # the panel too: the clone is named, its sentence not repeated
    assert facets.count("sold before") == 1 and "Cloned code" in facets and loaded.tin_b in facets, facets
    browser.click("#incident button[data-action=assign]")
    browser.wait_for("document.querySelector('#history').innerText.includes('took it')")
    # The note field says its limit as people count, and refuses more.
    assert browser.evaluate("document.querySelector('#note').maxLength") == MAX_NOTE
    assert f"0 of {MAX_NOTE} characters" in browser.text("#note-count")
    browser.click("#add-note")  # empty
    browser.wait_for("document.querySelector('#case-message').innerText.length > 0")
    assert "empty" in browser.text("#case-message") and "needs its text" not in browser.text("#case-message")
    browser.fill("#note", "called the store; waiting for their papers")
    assert f"42 of {MAX_NOTE}" in browser.text("#note-count")
    browser.click("#add-note")
    browser.wait_for("document.querySelector('#history').innerText.includes('waiting for their papers')")
    browser.click("#incident button[data-action=resolve]")
    browser.wait_for("document.querySelector('#case-state').innerText.includes('resolved')")
    assert "tests" in browser.text("#history")  # who: the token's label
    browser.screenshot(ARTIFACTS / "anomalies-incident-analyst.png")
    audit = loaded.gw.sql("SELECT count() FROM tracegate.audit_log WHERE action = 'anomaly_case'")[0][0]
    assert int(audit) >= 3
    # An empty result says so; an unknown kind in a URL is an error, not an empty queue.
    _open(browser, loaded, "/ui/anomalies?gtin=00000000000000", "document.querySelector('#empty')")
    assert "No incidents match" in browser.text("#empty")
    _open(browser, loaded, "/ui/anomalies?kind=no_such_kind", "document.querySelector('#result .error')")
    assert "is not a kind of anomaly" in browser.text("#result")
    assert not browser.console_errors, browser.console_errors


def test_analyst_traces_a_double_sale_across_sellers_and_opens_its_receipts(
    loaded: Loaded, browser: object
) -> None:
    from tests.analyst.browser import Browser

    assert isinstance(browser, Browser)
    _login(browser, loaded, loaded.analyst)
    code = urllib.parse.quote(loaded.double_sold, safe="")
    _open(browser, loaded, f"/ui/trace?code={code}", "document.querySelectorAll('#timeline li').length === 2")
    assert f"owner {loaded.tin_b}" in browser.text("#registry") and browser.text("#status") == "sold"
    assert B_STORE in browser.text("#timeline") and A_DEVICE in browser.text("#timeline")
    assert "UTC+5" in browser.text("h2:nth-of-type(2)") or "UTC+5" in browser.text()
    # Each sale says when the gateway received it: the verdicts follow that order, not the registers' times.
    assert browser.evaluate("document.querySelectorAll('#timeline li .received').length") == 2
    assert "(received 20" in browser.text("#timeline") and "order the gateway received" in browser.text("#order")
    browser.screenshot(ARTIFACTS / "trace-analyst.png")
    _open(
        browser,
        loaded,
        f"/ui/receipts?tin={loaded.tin_b}",
        "document.querySelectorAll('#receipts tr').length > 1",
    )
    assert browser.evaluate("document.querySelector('#tin').value") == loaded.tin_b
    browser.screenshot(ARTIFACTS / "receipts-analyst.png")


def test_a_receipt_says_each_quantity_in_its_unit_and_which_lines_were_taken_back(
    loaded: Loaded, browser: object,
) -> None:
    from tests.analyst.browser import Browser

    assert isinstance(browser, Browser)
    device = "units-receipt"
    if not loaded.gw.sql(f"SELECT count() FROM tracegate.receipts WHERE device_id = '{device}'")[0][0]:
        register = registered(loaded.gw, device, "770101300001", "ALM-UNITS")
        # Weighed apples, tea by the piece and one tea taken back (storno), cable by the metre sent as "6"
        # (OKEI 006 without its zeros), and a unit nobody names.
        lines = [("Apples", 1940, "166", 89000, False), ("Tea", 2000, "796", 1000, False),
                 ("Tea", 1000, "796", 1000, True), ("Cable", 1500, "6", 200, False),
                 ("Widget", 1000, "other", 100, False)]
        total = sum((-1 if storno else 1) * quantity * price // 1000 for _, quantity, _, price, storno in lines)
        receipt = pb.Receipt(
            operation=pb.SELL, shift_number=1, document_number=1, shift_document_number=1, total=total,
            payments=[pb.Payment(type=pb.CASH, sum=total)],
            lines=[pb.ReceiptLine(name=name, quantity=quantity, unit=unit, price=price, storno=storno,
                                  sum=quantity * price // 1000,
                                  taxes=[pb.Tax(tax_type=100, rate_bp=1200,
                                                sum=expected_included_tax(quantity * price // 1000, 1200))])
                   for name, quantity, unit, price, storno in lines],
        )
        ack = loaded.gw.ingest([register.envelope(pb.Event(time_ms=int(time.time() * 1000), receipt=receipt))])
        assert ack.acks[0].status == pb.ACCEPTED, ack
    deadline = time.monotonic() + 30
    while not loaded.gw.sql(f"SELECT count() FROM tracegate.receipt_lines WHERE device_id = '{device}'")[0][0]:
        assert time.monotonic() < deadline, "the receipt never reached the store"
        time.sleep(0.2)
    expected = {
        "en": [("1.940", "kg"), ("2", "pcs"), ("−1", "pcs"), ("1.500", "m"), ("1", "(unit other)")],
        "ru": [("1,940", "кг"), ("2", "шт"), ("−1", "шт"), ("1,500", "м"), ("1", "(ед. other)")],
    }
    for lang, cells in expected.items():
        _login(browser, loaded, loaded.analyst, lang=lang)
        _open(browser, loaded, f"/ui/receipt?device={device}&seq=1", "document.querySelector('#lines td.qty')")
        shown = browser.evaluate("[...document.querySelectorAll('#lines tr')].slice(1).map((r) => "
                                 "[r.querySelector('td.qty').innerText, r.querySelector('td.unit').innerText])")
        assert [tuple(row) for row in shown] == cells, shown
        storno = browser.evaluate("[...document.querySelectorAll('#lines tr.storno')].map((r) => r.innerText)")
        assert len(storno) == 1 and ("storno" if lang == "en" else "сторно") in storno[0], storno
        assert ("−10.00" if lang == "en" else "−10,00") in storno[0], storno  # its sum, taken back
        browser.screenshot(ARTIFACTS / f"receipt-units-{lang}.png")


def test_a_finding_is_said_once(loaded: Loaded, browser: object) -> None:
    from tests.analyst.browser import Browser

    assert isinstance(browser, Browser)
    _login(browser, loaded, loaded.analyst)
    # The simulated fleet's codes are not in the registry: receipts with several such lines.
    device, seq, shift = loaded.gw.sql(
        "SELECT device_id, seq, any(shift_number) FROM tracegate.anomalies"
        " INNER JOIN tracegate.receipts USING (device_id, seq) WHERE kind = 'code_unknown'"
        " GROUP BY device_id, seq HAVING count() > 1 ORDER BY device_id, seq LIMIT 1"
    )[0]
    _open(
        browser,
        loaded,
        f"/ui/receipt?device={device}&seq={seq}",
        "document.querySelector('#receipt-anomalies')",
    )
    title = "Code not in the registry"
    lines = browser.evaluate(
        "[...document.querySelectorAll('#receipt-anomalies li')].map((e) => e.innerText)"
    )
    assert [line for line in lines if title in line] and all(line.count(title) <= 1 for line in lines), lines
    _open(
        browser,
        loaded,
        f"/ui/receipts?device={device}&shift={shift}",
        "document.querySelectorAll('#receipts tr').length > 1",
    )
    row = browser.evaluate(
        f"[...document.querySelectorAll('#receipts tr')].find((r) => r.innerHTML.includes('seq={seq}\"')).innerText"
    )
    assert row.count(title) == 1 and f"{title} ×" in row, row


def test_retailer_queue_trace_and_receipt_name_no_other_seller(loaded: Loaded, browser: object) -> None:
    from tests.analyst.browser import Browser

    assert isinstance(browser, Browser)
    _login(browser, loaded, loaded.retailer_a)
    _open(
        browser,
        loaded,
        f"/ui/anomalies?device={A_DEVICE}",
        "document.querySelectorAll('#queue tr').length > 1",
    )
    assert "sold before by another seller" in browser.text("#queue")
    assert f"expired on {EXPIRED_ON}" in browser.text("#queue")
    assert loaded.tin_b not in browser.html() and "Case" not in browser.text("#queue tr")
    browser.screenshot(ARTIFACTS / "anomalies-retailer.png")
    code = urllib.parse.quote(loaded.owned_by_b, safe="")
    _open(browser, loaded, f"/ui/trace?code={code}", "document.querySelector('#status')")
    assert browser.text("#status") == "not visible to you" and "not visible to you" in browser.text(
        "#registry"
    )
    code = urllib.parse.quote(loaded.double_sold, safe="")
    _open(browser, loaded, f"/ui/trace?code={code}", "document.querySelector('#timeline li')")
    assert "owner another seller" in browser.text("#registry") and A_DEVICE in browser.text("#timeline")
    browser.screenshot(ARTIFACTS / "trace-retailer.png")
    browser.click("#timeline a")
    browser.wait_for("location.pathname === '/ui/receipt' && document.querySelector('#lines')")
    assert "already sold" in browser.text("#lines") and "another seller" in browser.text("#receipt-anomalies")
    assert len(browser.text("#original")) > 100
    browser.screenshot(ARTIFACTS / "receipt-retailer.png")


def test_retailer_finds_receipts_and_reads_register_reports(loaded: Loaded, browser: object) -> None:
    from tests.analyst.browser import Browser

    assert isinstance(browser, Browser)
    _login(browser, loaded, loaded.retailer_a)
    sign = str(
        loaded.gw.sql(
            f"SELECT fiscal_sign FROM tracegate.receipts WHERE device_id = '{A_DEVICE}' AND document_number = 2"
        )[0][0]
    )
    _open(browser, loaded, "/ui/receipts", "document.querySelectorAll('#receipts tr').length > 1")
    browser.fill("#sign", sign.lower())  # as typed from a printed receipt
    browser.click("#search button")
    browser.wait_for("document.querySelectorAll('#receipts tr').length === 2")
    assert "25.00" in browser.text("#receipts") and f"sign={sign.lower()}" in browser.evaluate(
        "location.search"
    )
    browser.fill("#sign", "")
    browser.fill("#amount", "25,00")
    browser.fill("#device", A_DEVICE)
    browser.click("#search button")
    browser.wait_for("document.querySelectorAll('#receipts tr').length === 3")
    browser.screenshot(ARTIFACTS / "receipts-retailer.png")
    _open(browser, loaded, f"/ui/register?device={A_DEVICE}", "document.querySelector('#x-report')")
    assert "shift 1 so far" in browser.text("#x-report") and "50.00" in browser.text("#x-report")
    _open(browser, loaded, "/ui/register?device=golden-0001", "document.querySelector('#z-reports')")
    browser.screenshot(ARTIFACTS / "register-retailer.png")
    # What is wrong with a register is on its page, each kind a link into the queue of that register.
    _open(browser, loaded, "/ui/register?device=golden-0002", "document.querySelector('#problems')")
    late = "#problems a[href='/ui/anomalies?device=golden-0002&kind=late_upload']"
    assert browser.evaluate(f"document.querySelector({json.dumps(late)}) !== null"), browser.text("#problems")
    browser.screenshot(ARTIFACTS / "register-problems-retailer.png")
    _open(browser, loaded, f"/ui/register?device={FORGED_DEVICE}", "document.querySelector('#result .error')")


def test_retailer_checks_many_codes_at_once(loaded: Loaded, browser: object, tmp_path: Path) -> None:
    from tests.analyst.browser import Browser

    assert isinstance(browser, Browser)
    _login(browser, loaded, loaded.retailer_a)
    codes = tmp_path / "codes.txt"
    codes.write_text("\n".join([loaded.double_sold, loaded.owned_by_b, "not a code"]) + "\n")
    _open(browser, loaded, "/ui/codes", "document.querySelector('#check button').textContent")
    browser.set_file("#file", codes)
    browser.click("#check button")
    browser.wait_for("document.querySelectorAll('#statuses tr').length === 4")
    rows = browser.evaluate(
        "[...document.querySelectorAll('#statuses tr')].slice(1).map(r => r.children[1].innerText)"
    )
    assert rows[0] == "sold" and rows[1] == "not visible to you" and rows[2].startswith("unreadable")
    browser.screenshot(ARTIFACTS / "codes-retailer.png")


def test_retailer_compares_books_in_russian_with_differences_first(
    loaded: Loaded, browser: object, tmp_path: Path
) -> None:
    from openpyxl import Workbook

    from tests.analyst.browser import Browser

    assert isinstance(browser, Browser)
    rows = loaded.gw.sql(
        "SELECT document_number, device_id, toUnixTimestamp64Milli(event_time), total FROM tracegate.receipts"
        " WHERE device_id = 'golden-0001' ORDER BY document_number LIMIT 15"
    )
    _login(browser, loaded, loaded.retailer_a, lang="ru")
    assert browser.text("nav a") == "Сводка"
    # Excel in Russian: ';', a decimal comma, local dates, Russian headers; one planted difference.
    lines = ["Номер чека;Касса;Дата;Сумма"]
    for n, (doc, device, ms, total) in enumerate(rows):
        local = time.strftime("%d.%m.%Y %H:%M:%S", time.gmtime(ms / 1000 + 5 * 3600))
        amount = total + (700 if n == 7 else 0)
        lines.append(f"{doc};{device};{local};{amount // 100},{amount % 100:02d}")
    books = tmp_path / "книга.csv"
    books.write_bytes("\r\n".join(lines).encode("cp1251"))
    _open(browser, loaded, "/ui/books", f"document.querySelector('#tin').value === '{GOLDEN_TIN}'")
    browser.set_file("#file", books)
    browser.click("#upload button")
    browser.wait_for("document.querySelector('#rows')")
    first = browser.evaluate("document.querySelectorAll('#rows tr')[1].innerText")
    assert first.startswith("сумма расходится") and "-7,00" in first
    summary = browser.text("#summary")
    assert "совпадает 14" in summary and "сумма расходится 1" in summary
    # Only what the file covers is compared: that register's receipts of those local days, not the seller's.
    first_day, last_day = (
        time.strftime("%Y-%m-%d", time.gmtime(rows[i][2] / 1000 + 5 * 3600)) for i in (0, -1)
    )
    covered = int(
        loaded.gw.sql(
            "SELECT count() FROM tracegate.receipts WHERE device_id = 'golden-0001' AND toDate(event_time + INTERVAL 5 HOUR)"
            f" BETWEEN '{first_day}' AND '{last_day}'"
        )[0][0]
    )
    everything = int(
        loaded.gw.sql(f"SELECT count() FROM tracegate.receipts WHERE seller_tin = '{GOLDEN_TIN}'")[0][0]
    )
    assert f"нет в вашем учёте {covered - 15}" in summary and covered < everything
    browser.click("#summary button[data-status=amount_differs]")
    browser.wait_for("document.querySelectorAll('#rows tr').length === 2")
    browser.screenshot(ARTIFACTS / "books-retailer-ru.png")
    # The same books as an Excel workbook.
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["document_number", "device_id", "time", "total"])
    for doc, device, ms, total in rows[:3]:
        sheet.append(
            [doc, device, time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000 + 5 * 3600)), total / 100]
        )
    xlsx = tmp_path / "books.xlsx"
    workbook.save(xlsx)
    browser.set_file("#file", xlsx)
    browser.click("#upload button")
    browser.wait_for(
        "document.querySelector('#summary') && document.querySelector('#summary').innerText.includes('совпадает 3')"
    )


def test_language_follows_the_browser_and_the_switch_sticks(loaded: Loaded, browser: object) -> None:
    from tests.analyst.browser import Browser

    assert isinstance(browser, Browser)
    _login(browser, loaded, loaded.retailer_a)
    browser.evaluate("document.cookie = 'tracegate_lang=; path=/; max-age=0'")
    browser.send("Network.enable")
    browser.send(
        "Network.setUserAgentOverride",
        userAgent="Mozilla/5.0 tracegate-test",
        acceptLanguage="kk-KZ,kk;q=0.9",
    )
    _open(browser, loaded, "/ui/reconcile", "document.querySelector('#shifts button').textContent.length > 0")
    assert (
        browser.evaluate("document.documentElement.lang") == "kk"
        and browser.text("h1") == "Менің ауысымым сәйкес пе?"
    )
    browser.evaluate(
        "document.querySelector('#lang').value = 'ru'; document.querySelector('#lang').dispatchEvent(new Event('change'))"
    )
    browser.wait_for(
        "document.documentElement.lang === 'ru' && document.querySelector('h1').innerText.length > 0"
    )
    _open(browser, loaded, "/ui/trace", "document.querySelector('h1').innerText.length > 0")
    assert browser.text("h1") == "Где этот товар?"  # the switch sticks over the browser's language
    browser.send(
        "Network.setUserAgentOverride", userAgent="Mozilla/5.0 tracegate-test", acceptLanguage="en-US"
    )
    browser.evaluate("document.cookie = 'tracegate_lang=en; path=/'")


def test_a_shift_closed_after_midnight_belongs_to_the_local_day(loaded: Loaded, browser: object) -> None:
    from tests.analyst.browser import Browser

    assert isinstance(browser, Browser)
    _login(browser, loaded, loaded.retailer_b)
    closed_ms = int(
        loaded.gw.sql(
            f"SELECT toUnixTimestamp64Milli(closed_at) FROM tracegate.shifts WHERE device_id = '{FORGED_DEVICE}'"
        )[0][0]
    )
    local_day = time.strftime("%Y-%m-%d", time.gmtime(closed_ms / 1000 + 5 * 3600))
    _open(browser, loaded, f"/ui/reconcile?date={local_day}", "document.querySelector('#summary')")
    assert FORGED_DEVICE in browser.text("#result") and "does not add up" in browser.text("#result")
    assert "UTC+5" in browser.text("#result")
    browser.screenshot(ARTIFACTS / "reconcile-retailer.png")


PAGES = [
    ("/ui/dashboard", "document.querySelector('svg.chart')"),
    ("/ui/anomalies", "document.querySelector('#queue') || document.querySelector('#empty')"),
    ("/ui/receipts", "document.querySelector('#receipts')"),
    (f"/ui/register?device={A_DEVICE}", "document.querySelector('#x-report')"),
    ("/ui/codes", "document.querySelector('#check button').textContent"),
    (f"/ui/reconcile?date={GOLDEN_DAY}", "document.querySelector('#summary')"),
    ("/ui/books", "document.querySelector('#upload button').textContent"),
    ("/ui/trace", "document.querySelector('#search button').textContent"),
]


def test_pages_fit_a_phone_and_are_usable_by_keyboard(loaded: Loaded, browser: object) -> None:
    from tests.analyst.browser import Browser

    assert isinstance(browser, Browser)
    _login(browser, loaded, loaded.retailer_a)
    browser.viewport(390, 844, mobile=True)
    try:
        for path, ready in PAGES:
            _open(browser, loaded, path, ready)
            width = browser.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} is {width} px wide on a 390 px phone"
            unlabelled = browser.evaluate(
                "[...document.querySelectorAll('input, select, textarea')].filter(e => !e.closest('label')"
                " && !e.getAttribute('aria-label')).map(e => e.id)"
            )
            assert not unlabelled, f"{path}: fields without a label {unlabelled}"
            name = path.split("?")[0].rsplit("/", 1)[1]
            browser.screenshot(ARTIFACTS / f"phone-{name}.png")
    finally:
        browser.viewport(1280)
    _open(
        browser,
        loaded,
        "/ui/anomalies",
        "document.querySelector('#queue') && document.querySelector('#prev').disabled",
    )
    # A disabled button looks disabled; text has enough contrast; charts have names.
    looks = browser.evaluate(
        "(() => { const off = getComputedStyle(document.querySelector('#prev')), on = getComputedStyle(document.querySelector('#filters button'));"
        " return [document.querySelector('#prev').disabled, off.backgroundColor, on.backgroundColor, off.cursor]; })()"
    )
    assert looks[0] and looks[1] != looks[2] and looks[3] == "not-allowed"
    contrast = browser.evaluate(CONTRAST_JS)
    low = [(name, c) for name, c in contrast if c < 4.5]
    assert not low, low
    # The keyboard reaches the skip link, then the pages' links, in order.
    browser.send("Page.bringToFront")
    reached = []
    for _ in range(3):
        browser.send("Input.dispatchKeyEvent", type="keyDown", key="Tab", code="Tab", windowsVirtualKeyCode=9)
        browser.send("Input.dispatchKeyEvent", type="keyUp", key="Tab", code="Tab", windowsVirtualKeyCode=9)
        reached.append(
            browser.evaluate("document.activeElement.className + ':' + document.activeElement.textContent")
        )
    assert reached == ["skip:Skip to the content", "brand:tracegate", ":Dashboard"], reached


CONTRAST_JS = """(() => {
  const rgb = (c) => c.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number);
  const lum = (c) => { const [r, g, b] = rgb(c).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const bg = (e) => { for (; e; e = e.parentElement) { const c = getComputedStyle(e).backgroundColor; if (!c.endsWith(", 0)") && c !== "transparent") return c; } return "rgb(255, 255, 255)"; };
  const ratio = (e) => { const a = lum(getComputedStyle(e).color), b = lum(bg(e)); return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05); };
  return [...document.querySelectorAll("header a, header .who, label span, .muted, button, td, th, .pill, h1")].slice(0, 300)
    .filter((e) => e.offsetParent !== null && !e.closest(".sr")).map((e) => [e.className + ":" + e.textContent.slice(0, 20), Math.round(ratio(e) * 100) / 100]);
})()"""


def test_no_page_shows_a_retailer_another_seller(loaded: Loaded, browser: object, tmp_path: Path) -> None:
    from tests.analyst.browser import Browser

    assert isinstance(browser, Browser)
    forbidden = other_sellers_identifiers(loaded, GOLDEN_TIN)
    _login(browser, loaded, loaded.retailer_a)
    seen: list[tuple[str, str]] = []
    visits = [
        *PAGES,
        (f"/ui/anomalies?device={A_DEVICE}", "document.querySelector('#queue')"),
        (
            f"/ui/trace?code={urllib.parse.quote(loaded.double_sold, safe='')}",
            "document.querySelector('#timeline')",
        ),
        (
            f"/ui/trace?code={urllib.parse.quote(loaded.owned_by_b, safe='')}",
            "document.querySelector('#status')",
        ),
        *[
            (f"/ui/trace?code={urllib.parse.quote(c, safe='')}", "document.querySelector('#status')")
            for c in loaded.b_only_codes
        ],
        (f"/ui/reconcile?date={loaded.forged_day}", "document.querySelector('#summary')"),
        (f"/ui/receipts?sign={loaded.b_fiscal_sign}", "document.querySelector('#empty')"),
    ]
    for path, ready in visits:
        _open(browser, loaded, path, ready)
        seen.append((path, browser.html()))
        if path.startswith("/ui/anomalies?device"):
            browser.click("#queue button.open")
            browser.wait_for("document.querySelector('#facets')")
            seen.append((path + " incident", browser.html()))
    codes = tmp_path / "codes.txt"
    codes.write_text("\n".join([loaded.double_sold, loaded.owned_by_b, *loaded.b_only_codes]))
    _open(browser, loaded, "/ui/codes", "document.querySelector('#check button').textContent")
    browser.set_file("#file", codes)
    browser.click("#check button")
    browser.wait_for("document.querySelector('#statuses')")
    seen.append(("/ui/codes result", browser.html()))
    for path, html in seen:
        leaked = sorted(x for x in forbidden if x in html)
        assert not leaked, f"{path} shows another seller's {leaked}"
    assert json.dumps(seen).count(GOLDEN_TIN) > 0


def _english_fragments() -> set[str]:
    """Pieces of English sentences (3 words or more between placeholders) that no Russian text shares."""
    from gateway.i18n import catalogue

    others = " ".join([*catalogue("ru").values(), *catalogue("kk").values()])
    pieces = set()
    for text in catalogue("en").values():
        for piece in re.split(r"\{\w+\}", text):
            piece = piece.strip(" .,:;()")
            if len(piece.split()) >= 3 and piece not in others:
                pieces.add(piece)
    return pieces


def _rejected_in_the_last_day(loaded: Loaded) -> None:
    """An envelope of a register nobody registered: the dashboard's ingest health names a rejection."""
    if not loaded.gw.sql("SELECT count() FROM tracegate.rejections WHERE device_id = 'walk-unregistered'")[0][0]:
        stranger = ChainedRegister("walk-unregistered")
        ack = loaded.gw.ingest([stranger.envelope(sale(100, time_ms=int(time.time() * 1000)))])
        assert ack.acks[0].status != pb.ACCEPTED, ack
    deadline = time.monotonic() + 30
    while not loaded.gw.sql("SELECT count() FROM tracegate.rejections WHERE device_id = 'walk-unregistered'")[0][0]:
        assert time.monotonic() < deadline, "the rejection never reached the store"
        time.sleep(0.2)


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_russian_and_kazakh_pages_show_no_english(loaded: Loaded, browser: object, lang: str) -> None:
    from tests.analyst.browser import Browser

    assert isinstance(browser, Browser)
    english = _english_fragments()
    # What the pages used to show in English: server errors, parser tokens, anomaly details, groups.
    english |= {
        "not a marking code",
        "is not an amount",
        "must be a whole number",
        "name the seller",
        "date must be",
        "unknown anomaly kind",
        "ahead of the gateway",
        "No such resource",
        "tobacco",
        "light_industry",
        "not a date or time",
        "status must be one of",
        "range is at most",
        "visible to you",
        "no device",
        "unknown_device",
    }
    _rejected_in_the_last_day(loaded)
    code = urllib.parse.quote(loaded.double_sold, safe="")
    walks = {
        loaded.retailer_a: [
            "/ui/trace?code=abc",
            f"/ui/trace?code={code}",
            "/ui/receipts?amount=abc",
            "/ui/receipts?document=abc",
            "/ui/reconcile?date=garbage",
            "/ui/anomalies?kind=bogus",
            f"/ui/anomalies?device={A_DEVICE}",
            "/ui/receipt",
            f"/ui/register?device={B_DEVICE}",  # another seller's: as if it did not exist
            f"/ui/register?device={refusing_register(loaded.gw)}",  # its rejected events
            f"/ui/register?device={REFUSING_DEVICE}&code=bogus",
            "/ui/dashboard",
        ],
        loaded.analyst: [
            "/ui/reconcile?date=2030-01-01",
            "/ui/anomalies",
            "/ui/anomalies?status=bogus",
            "/ui/anomalies?preset=custom&since=2026-99-01",
            "/ui/dashboard?since=2020-01-01&until=2026-01-01",
            "/ui/dashboard",  # its ingest health names a rejection
            f"/ui/reconcile?tin={GOLDEN_TIN}&date={GOLDEN_DAY}",
            f"/ui/register?device={REFUSING_DEVICE}",  # the refusals nobody proved, apart
            f"/ui/register?device={SILENT_DEVICE}&since=2026-13-01",
        ],
    }
    for token, paths in walks.items():
        _login(browser, loaded, token, lang)
        for path in paths:
            _open(
                browser,
                loaded,
                path,
                "document.querySelector('#result')?.innerText.length > 0"
                " && !document.querySelector('#result [aria-live=polite]')",
            )
            time.sleep(0.3)
            shown = browser.text()
            found = sorted(e for e in english if e in shown)
            assert not found, (path, found, shown[:1500])
        _open(browser, loaded, "/ui/export", "document.querySelector('#export button').textContent")
        browser.fill("#device", "no-such-register")
        browser.click("#export button")
        browser.wait_for("document.querySelector('#result .error')")
        found = sorted(e for e in english if e in browser.text())
        assert not found, ("/ui/export", found, browser.text("#result"))
    browser.goto(loaded.gw.url + "/ui/no-such-page")
    assert "No such resource" not in browser.text() and browser.text("h1") != "Page not found"

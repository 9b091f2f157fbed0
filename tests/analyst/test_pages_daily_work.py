"""The pages as people use them every day, in headless chromium: scanned codes read whole, books files with
mistakes in them, Z-reports whose columns add up, shifts that say why they fail, numbers, money and time
written so nobody misreads them."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from firmware_sim.catalog import default_catalog
from tests.analyst.browser import NEEDS_CHROMIUM, Browser
from tests.analyst.conftest import A_DEVICE, B_DEVICE, FORGED_DEVICE, GOLDEN_DAY, GOLDEN_TIN, Loaded
from tests.analyst.test_pages import _login
from tests.e2e.conftest import tracegate

ARTIFACTS = Path(__file__).parent.parent / "artifacts"
GS = "\x1d"

pytestmark = [pytest.mark.clickhouse, NEEDS_CHROMIUM]


def _use(browser: object, loaded: Loaded, token: str, lang: str = "en") -> Browser:
    """Signed in with token, the page language lang; the browser, typed."""
    _login(browser, loaded, token, lang)
    assert isinstance(browser, Browser)
    return browser


def _open(browser: object, loaded: Loaded, path: str, ready: str) -> None:
    from tests.analyst.browser import Browser

    assert isinstance(browser, Browser)
    browser.goto(loaded.gw.url + path)
    browser.wait_for(ready)


def test_scanned_codes_with_gs_and_punctuation_are_read_whole(
    loaded: Loaded, browser: object, tmp_path: Path
) -> None:
    from tests.analyst.browser import Browser

    # Two codes of the retailer's, as the scanner exports them: GS before 93, ',', ';' and '"' in serials.
    gtin = next(g for g in default_catalog() if g.marking_group == "tobacco").gtin
    codes = [f"01{gtin}21iW,D;x1{GS}93wGBI", f'01{gtin}21Tv/h;"2{GS}93rDlV']
    registry = tmp_path / "registry.jsonl"
    registry.write_text(
        "".join(
            json.dumps({"code": c, "owner_tin": GOLDEN_TIN, "status": "introduced"}) + "\n" for c in codes
        )
    )
    tracegate("codes", "import", str(registry), "--data", str(loaded.gw.data))
    b = _use(browser, loaded, loaded.retailer_a)
    assert isinstance(b, Browser)
    scanned = tmp_path / "scanned.txt"
    scanned.write_text("\n".join(codes) + "\n")
    _open(b, loaded, "/ui/codes", "document.querySelector('#check button').textContent")
    assert "one code a line" in b.text("main") and "0x1D" in b.text("main")  # the format is documented
    b.set_file("#file", scanned)
    b.click("#check button")
    b.wait_for("document.querySelector('#statuses')")
    rows = b.evaluate(
        "[...document.querySelectorAll('#statuses tr')].slice(1)"
        ".map(r => [r.children[0].innerText, r.children[1].innerText])"
    )
    assert rows == [[c.split(GS)[0], "in circulation"] for c in codes], rows
    b.screenshot(ARTIFACTS / "codes-scanned-retailer.png")
    # Pasted, the same.
    b.goto(loaded.gw.url + "/ui/codes")
    b.wait_for("document.querySelector('#check button').textContent")
    b.fill("#pasted", "\n".join(codes))
    b.click("#check button")
    b.wait_for("document.querySelector('#statuses')")
    assert b.evaluate("document.querySelectorAll('#statuses tr').length") == 3


def _golden_rows(loaded: Loaded) -> list[tuple[int, int, int]]:
    rows = loaded.gw.sql(
        "SELECT document_number, toUnixTimestamp64Milli(event_time), total FROM tracegate.receipts"
        " WHERE device_id = 'golden-0001' ORDER BY document_number LIMIT 2"
    )
    return [(int(d), int(ms), int(t)) for d, ms, t in rows]


def _local(ms: int) -> str:
    return time.strftime("%d.%m.%Y %H:%M:%S", time.gmtime(ms / 1000 + 5 * 3600))


def test_books_with_mistakes_get_clear_answers_in_the_readers_language(
    loaded: Loaded, browser: object, tmp_path: Path
) -> None:
    from tests.analyst.browser import Browser

    b = _use(browser, loaded, loaded.retailer_a, lang="ru")
    assert isinstance(b, Browser)
    (doc, ms, total), _ = _golden_rows(loaded)
    day = _local(ms)
    lines = [
        "Номер чека;Касса;Дата;Сумма",
        f"{doc};golden-0001;{day};{total // 100},{total % 100:02d}",
        f"99999999999999999999999;golden-0001;{day};1,00",  # a number no float holds
        f"7;{B_DEVICE};{day};1,00",  # another seller's register
        f"8;no-such-kkm;{day};1,00",  # a typo
    ]
    books = tmp_path / "books.csv"
    books.write_text("\n".join(lines))
    _open(b, loaded, "/ui/books", f"document.querySelector('#tin').value === '{GOLDEN_TIN}'")
    b.set_file("#file", books)
    b.click("#upload button")
    b.wait_for("document.querySelector('#rows')")
    not_yours = b.text("#not-yours")
    assert "не ваши кассы" in not_yours and B_DEVICE in not_yours and "no-such-kkm" in not_yours
    table = b.text("#rows")
    assert B_DEVICE not in table and "no-such-kkm" not in table  # not "missing on our side"
    assert B_DEVICE not in b.text("#covers") and "golden-0001" in b.text("#covers")
    assert "99999999999999999999999" in table and "e+" not in table  # exact, not 1e+23
    header = b.text("#rows tr")
    assert "(UTC+5)" in header and "₸" in header
    assert re.search(r"\d\d:\d\d:\d\d", table)  # seconds, as the receipts show them
    b.screenshot(ARTIFACTS / "books-mistakes-retailer-ru.png")
    # A document number that is no number: the line, the field and the value, in Russian, no Python.
    lines[2] = f"abc;golden-0001;{day};1,00"
    books.write_text("\n".join(lines))
    b.set_file("#file", books)
    b.click("#upload button")
    b.wait_for("document.querySelector('#result .error')")
    assert b.text("#result .error") == "строка 3: номер документа «abc» — не целое число"


def _cents(text: str) -> int:
    """Minor units of an amount as the English pages write it (1,234.50; '–' for none)."""
    return int(text.replace(",", "").replace(".", "").replace("–", "0") or 0)


def test_z_report_payment_columns_add_up_to_the_takings(loaded: Loaded, browser: object) -> None:
    from tests.analyst.browser import Browser

    device, mobile = loaded.gw.sql(
        "SELECT device_id, sum(mobile) FROM tracegate.shifts WHERE seller_tin = '" + GOLDEN_TIN + "'"
        " GROUP BY device_id ORDER BY sum(mobile) DESC, count() DESC LIMIT 1"
    )[0]
    b = _use(browser, loaded, loaded.retailer_a)
    assert isinstance(b, Browser)
    _open(b, loaded, f"/ui/register?device={device}", "document.querySelector('#z-reports')")
    header = b.evaluate("[...document.querySelectorAll('#z-reports th')].map(th => th.innerText)")
    assert all(h.strip() for h in header), header  # every column is named
    assert ("Mobile ₸" in header) == bool(mobile) and "Cash ₸" in header and "Card ₸" in header
    takings = header.index("Takings (sold − returned) ₸")
    paid = [i for i, h in enumerate(header) if h in ("Cash ₸", "Card ₸", "Mobile ₸", "Credit ₸", "Tare ₸")]
    rows = b.evaluate(
        "[...document.querySelectorAll('#z-reports tr')].slice(1)"
        ".map(r => [...r.children].map(c => c.innerText))"
    )
    assert rows
    for row in rows:
        assert sum(_cents(row[i]) for i in paid) == _cents(row[takings]), (header, row)
    b.screenshot(ARTIFACTS / "register-z-reports-retailer.png")


def test_shifts_say_why_they_fail_mark_every_row_and_default_the_day(loaded: Loaded, browser: object) -> None:
    from tests.analyst.browser import Browser

    b = _use(browser, loaded, loaded.retailer_b)
    assert isinstance(b, Browser)
    _open(b, loaded, f"/ui/reconcile?date={loaded.forged_day}", "document.querySelector('#summary')")
    forged = b.evaluate(
        "[...document.querySelectorAll('section.shift')]"
        f".find(s => s.innerText.includes('{FORGED_DEVICE}')).innerText"
    )
    heading = forged.splitlines()[0]
    assert "does not add up: Z-report and receipts differ; 1 document number(s) missing" in heading, heading
    # Every row of every shift's table says whether it agrees, the sums too.
    marks = b.evaluate(
        "[...document.querySelectorAll('section.shift table tr')].filter(r => r.querySelector('td'))"
        ".map(r => r.lastElementChild.innerText)"
    )
    assert marks and set(marks) <= {"✓", "differs"} and "differs" in marks, marks
    b = _use(browser, loaded, loaded.analyst)
    assert isinstance(b, Browser)
    # A seller but no day: today (UTC+5), run at once.
    _open(b, loaded, f"/ui/reconcile?tin={GOLDEN_TIN}", "document.querySelector('#summary')")
    today = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 5 * 3600))
    assert b.evaluate("document.querySelector('#date').value") == today
    assert f"date={today}" in b.evaluate("location.search")
    # Nothing at all: the page says what to choose.
    _open(b, loaded, "/ui/reconcile", "document.querySelector('#choose')")
    assert "Choose the seller" in b.text("#choose")
    _open(
        b, loaded, f"/ui/reconcile?tin={GOLDEN_TIN}&date={GOLDEN_DAY}", "document.querySelector('#summary')"
    )


def test_a_receipt_shows_tenge_the_zone_its_discounts_and_which_number_is_which(
    loaded: Loaded, browser: object
) -> None:
    from tests.analyst.browser import Browser

    seq = int(
        loaded.gw.sql(
            f"SELECT seq FROM tracegate.receipts WHERE device_id = '{A_DEVICE}' AND document_number = 2"
        )[0][0]
    )
    b = _use(browser, loaded, loaded.retailer_a)
    assert isinstance(b, Browser)
    _open(b, loaded, f"/ui/receipt?device={A_DEVICE}&seq={seq}", "document.querySelector('#totals')")
    facts = b.text("#facts")
    assert "25.00 ₸" in facts
    assert re.search(r"received \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\+5", facts), facts
    assert "document № 2" in facts and f"event {seq} of the register's chain" in facts
    assert b.text("#totals") == "Lines 25.00 = total 25.00 ₸"
    assert "Discount (−) / markup (+)" in b.text("#lines tr")

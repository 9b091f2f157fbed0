"""What an outside tester found walking the pages at 1280 and 390 px in English, Russian and Kazakh, in
headless chromium: every figure on a phone's screen, units that never wrap, the reader's words for every
status and error, ?lang= in an address, buttons that fit the case's state, no stale counters beside an
error."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.analyst.browser import Browser
from tests.analyst.conftest import GOLDEN_DAY, GOLDEN_TIN, Loaded
from tests.analyst.test_pages import ARTIFACTS, _login, _open, pytestmark  # noqa: F401

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

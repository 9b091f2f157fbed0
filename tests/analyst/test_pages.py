"""The pages in headless chromium: log in, read the dashboard, trace a code, work the queue, reconcile."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.analyst.conftest import FORGED_DEVICE, GOLDEN_DAY, GOLDEN_TIN, Loaded

ARTIFACTS = Path(__file__).parent.parent / "artifacts"

pytestmark = [
    pytest.mark.clickhouse,
    pytest.mark.skipif(
        shutil.which("chromium") is None and not os.path.exists("/usr/bin/chromium"),
        reason="chromium is not installed (make test installs Debian's chromium when run as root)",
    ),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from tests.analyst.browser import Browser

    b = Browser()
    try:
        yield b
    finally:
        b.close()


def _login(browser: object, loaded: Loaded, token: str) -> None:
    from tests.analyst.browser import Browser

    assert isinstance(browser, Browser)
    browser.goto(loaded.gw.url + "/ui/login")
    browser.evaluate("sessionStorage.clear()")
    browser.fill("#token", token)
    browser.click("#login button")
    browser.wait_for("location.pathname === '/ui/dashboard'")


def test_analyst_reads_the_dashboard_and_traces_a_code(loaded: Loaded, browser: object) -> None:
    from tests.analyst.browser import Browser

    assert isinstance(browser, Browser)
    browser.goto(loaded.gw.url + "/ui/dashboard")
    browser.wait_for("location.pathname === '/ui/login'")  # no token yet: sent to log in
    _login(browser, loaded, loaded.analyst)
    browser.wait_for("document.querySelectorAll('svg rect').length > 0")
    assert "analyst" in browser.text("#who")
    assert int(browser.text("#events")) > 0
    assert "receipts per hour" in browser.text().lower()
    browser.screenshot(ARTIFACTS / "dashboard.png")

    raw = str(
        loaded.gw.sql(
            "SELECT marking_codes[1] FROM tracegate.receipt_lines WHERE length(marking_codes) > 0"
            " AND operation = 'SELL' AND device_id NOT LIKE 'golden%' LIMIT 1"
        )[0][0]
    )
    browser.goto(loaded.gw.url + "/ui/trace")
    browser.fill("#code", raw.replace("\x1d", "\\u001d"))  # as a scanner's text export writes GS
    browser.click("#search button")
    browser.wait_for("document.querySelector('#timeline')")
    assert raw.startswith(browser.text("#cis"))
    assert "sale" in browser.text("#timeline")
    assert browser.text("#status") in ("sold", "returned")
    browser.screenshot(ARTIFACTS / "trace.png")


def test_analyst_filters_the_queue_and_pages_through_it(loaded: Loaded, browser: object) -> None:
    from tests.analyst.browser import Browser

    assert isinstance(browser, Browser)
    _login(browser, loaded, loaded.analyst)
    browser.goto(loaded.gw.url + "/ui/anomalies")
    browser.wait_for("document.querySelectorAll('#queue tr').length > 1")
    assert "late_upload" in browser.text("#counts")
    browser.fill("#kind", "shift_receipts_mismatch")
    browser.click("#filters button")
    browser.wait_for("document.querySelectorAll('#queue tr').length === 2")
    assert FORGED_DEVICE in browser.text("#queue")
    browser.fill("#kind", "")
    browser.fill("#tin", GOLDEN_TIN)
    browser.click("#filters button")
    browser.wait_for(
        "document.querySelectorAll('#queue tr').length === 51 && !document.querySelector('#next').disabled"
    )
    first_page = browser.text("#queue")
    browser.click("#next")
    browser.wait_for("document.querySelector('#page').innerText.startsWith('page 2')")
    assert browser.text("#queue") != first_page and GOLDEN_TIN in browser.text("#queue")
    assert FORGED_DEVICE not in browser.text("#queue")
    browser.screenshot(ARTIFACTS / "anomalies.png")


def test_retailer_reconciles_a_day_and_uploads_its_books(
    loaded: Loaded, browser: object, tmp_path: Path
) -> None:
    from tests.analyst.browser import Browser

    assert isinstance(browser, Browser)
    _login(browser, loaded, loaded.retailer_a)
    browser.goto(loaded.gw.url + "/ui/reconcile")
    browser.wait_for(f"document.querySelector('#tin').value === '{GOLDEN_TIN}'")
    browser.fill("#date", GOLDEN_DAY)
    browser.click("#shifts button")
    browser.wait_for("document.querySelector('#summary')")
    assert "golden-0001" in browser.text("#result") and "adds up" in browser.text("#result")
    browser.screenshot(ARTIFACTS / "reconcile.png")

    rows = loaded.gw.sql(
        "SELECT document_number, device_id, toUnixTimestamp64Milli(event_time), total FROM tracegate.receipts"
        " WHERE device_id = 'golden-0001' ORDER BY document_number"
    )
    books = tmp_path / "books.csv"
    lines = ["document_number,device_id,time,total"]
    lines += [
        f"{d},{dev},{ms},{(t + (100 if i == 0 else 0)) / 100:.2f}" for i, (d, dev, ms, t) in enumerate(rows)
    ]
    books.write_text("\n".join(lines) + "\n")
    browser.goto(loaded.gw.url + "/ui/books")
    browser.wait_for(f"document.querySelector('#tin').value === '{GOLDEN_TIN}'")
    browser.set_file("#file", books)
    browser.click("#upload button")
    browser.wait_for("document.querySelector('#summary')")
    summary = browser.text("#summary")
    assert f"matched {len(rows) - 1}" in summary and "amount differs 1" in summary
    assert "missing on our side 0" in summary
    browser.screenshot(ARTIFACTS / "books.png")
    assert not browser.console_errors, browser.console_errors

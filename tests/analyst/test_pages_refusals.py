"""The register page's rejected events in headless chromium: counts by reason, each a link to its list, five
a page; the analyst reads the refusals nobody proved apart; the retailer never does; another seller's
register is not there; at 1280 and 390 px, in English, Russian and Kazakh."""

from __future__ import annotations

import json

import pytest

from gateway.i18n import translate
from tests.analyst.browser import Browser
from tests.analyst.conftest import REFUSED_SIGNED, SILENT_DEVICE, Loaded, refusing_register
from tests.analyst.test_pages import ARTIFACTS, _login, _open, pytestmark  # noqa: F401
from tests.analyst.test_pages_walk import PHONE, _fits, _on_phone

CODES = "document.querySelectorAll('#refusal-codes tr').length > 1"
LIST_ROWS = "document.querySelectorAll('#refusal-list tr').length - 1"
DETAILS = "#refusal-list td.detail"


@pytest.fixture(scope="module")
def b(browser: Browser) -> Browser:
    """The module's chromium, by a short name."""
    return browser


@pytest.fixture(scope="module")
def device(loaded: Loaded) -> str:
    """Seller A's register with refusals it signed and refusals forged in its name."""
    return refusing_register(loaded.gw)


def _reason_link(code: str, proven: bool = True) -> str:
    table = "#refusal-codes" if proven else "#unproven-codes"
    return f"{table} a[title={json.dumps(code)}]"


def test_the_analyst_reads_the_registers_refusals_and_apart_the_unproven(
    loaded: Loaded, b: Browser, device: str
) -> None:
    _login(b, loaded, loaded.analyst)
    _open(b, loaded, f"/ui/register?device={device}", CODES)
    codes = b.text("#refusal-codes")
    assert "Earlier documents missing" in codes and "11" in codes and "Chain broken" in codes
    assert "Rejected events in this period: 13" in b.text("#refusals")
    # Five a page, newest first; older and back.
    assert b.evaluate(LIST_ROWS) == 5 and "expected seq 2, got 14" in b.text("#refusal-list")
    b.screenshot(ARTIFACTS / "register-refusals-analyst.png")
    seen = set()
    for page, rows in ((1, 5), (2, 5), (3, 3)):
        b.wait_for(f"document.querySelector('#refusals').innerText.includes('page {page} · {rows} rows')")
        assert b.evaluate(LIST_ROWS) == rows
        seen.add(b.text("#refusal-list"))
        b.click("#refusals-older")  # disabled on the last page
    # Each page other rows, down to the oldest: the fork of seq 1, refused last in the request.
    assert len(seen) == 3 and "Two documents with one number" in b.text("#refusal-list")
    assert b.evaluate("document.querySelector('#refusals-older').disabled")
    b.click("#refusals-newer")
    b.wait_for("document.querySelector('#refusals').innerText.includes('page 2 · 5 rows')")
    # The refusals nobody proved: under their own heading, never among the register's.
    unproven = b.text("#unproven-codes")
    assert "Signature does not match" in unproven and "Unknown signing key" in unproven
    assert "Signature does not match" not in codes
    assert "not proven to come from this register" in b.text("#unproven")
    b.click(_reason_link("bad_signature", proven=False))
    b.wait_for(f"location.search.includes('proven=0') && {LIST_ROWS} === 1")
    assert "Latest rejected events not proven" in b.text("#refusal-list-title")
    assert "4 more like it" in b.text("#refusal-list")
    # A reason of the register's own lists its events only.
    b.click("#refusals-all")
    b.wait_for(f"!location.search.includes('proven=0') && {LIST_ROWS} === 5")
    b.click(_reason_link("chain_fork"))
    b.wait_for(f"location.search.includes('code=chain_fork') && {LIST_ROWS} === 1")
    assert "Two documents with one number" in b.text("#refusal-list-title")
    assert not b.console_errors, b.console_errors


def test_the_retailer_reads_its_registers_refusals_and_nothing_forged(
    loaded: Loaded, b: Browser, device: str
) -> None:
    _login(b, loaded, loaded.retailer_a)
    _open(b, loaded, f"/ui/register?device={device}", CODES)
    shown = b.text("#refusals")
    assert "Earlier documents missing" in shown and f"this period: {sum(REFUSED_SIGNED.values())}" in shown
    assert b.evaluate("document.querySelector('#unproven, #unproven-codes')") is None
    for forged in ("Signature does not match", "Unknown signing key", "not proven"):
        assert forged not in b.text(), forged
    b.screenshot(ARTIFACTS / "register-refusals-retailer.png")
    b.click(_reason_link("seq_gap"))
    b.wait_for(f"location.search.includes('code=seq_gap') && {LIST_ROWS} === 5")
    assert b.evaluate("document.querySelector('#refusals').getBoundingClientRect().top") < 900  # scrolled to
    # Another period: none, said so, the rest of the page unchanged.
    b.fill("#refusals-since", "2026-01-01")
    b.fill("#refusals-until", "2026-01-31")
    b.click("#refusal-period button")
    b.wait_for("document.querySelector('#refused-total').innerText.includes('No rejected events')")
    assert "since=2026-01-01" in b.evaluate("location.search")
    assert b.evaluate("document.querySelector('#x-report')") is not None
    # A register whose only upload was refused has no reports, but says why.
    _open(b, loaded, f"/ui/register?device={SILENT_DEVICE}", "document.querySelector('#refusal-codes')")
    said = b.text("#result .error")
    assert "has been accepted yet" in said and "check the register's name" not in said
    assert "Earlier documents missing" in b.text("#refusals")
    # A link an analyst shares for the refusals nobody proved shows the retailer its own ones.
    _open(b, loaded, f"/ui/register?device={device}&proven=0", "document.querySelector('#refusal-codes')")
    assert f"this period: {sum(REFUSED_SIGNED.values())}" in b.text("#refusals")
    assert "staff" not in b.text("#refusals")
    assert not b.console_errors, b.console_errors


def test_another_retailer_does_not_find_the_register(loaded: Loaded, b: Browser, device: str) -> None:
    _login(b, loaded, loaded.retailer_b)
    for other in (device, SILENT_DEVICE):
        _open(b, loaded, f"/ui/register?device={other}", "document.querySelector('#result .error')")
        assert "No receipts or reports" in b.text("#result")
        assert b.evaluate("document.querySelector('#refusals')") is None


def test_the_refusals_fit_a_phone(loaded: Loaded, b: Browser, device: str) -> None:
    for token, name in ((loaded.retailer_a, "retailer"), (loaded.analyst, "analyst")):
        _login(b, loaded, token)
        _on_phone(b)
        try:
            _open(b, loaded, f"/ui/register?device={device}", CODES)
            _fits(b, "/ui/register", "#refusals td, #refusals input, #refusals button")
            # The technical detail is read across the card, not squeezed into a sliver.
            widths = b.evaluate(f"[...document.querySelectorAll({DETAILS!r})].map(e => e.clientWidth)")
            assert min(widths) >= 150, widths
            b.screenshot(ARTIFACTS / f"phone-register-refusals-{name}.png")
        finally:
            b.viewport(1280)
    assert PHONE == 390


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_the_refusals_speak_the_readers_language(loaded: Loaded, b: Browser, device: str, lang: str) -> None:
    _login(b, loaded, loaded.analyst, lang)
    _open(b, loaded, f"/ui/register?device={device}", CODES)
    section = b.text("#refusals")
    for key in ("register.refused", "register.refused_latest", "register.unproven", "rejection.seq_gap",
                "rejection.bad_signature", "advice.seq_gap"):
        assert translate(lang, key) in section, (lang, key)
    # Only the gateway's technical notes are English, and they say so.
    english = b.evaluate("[...document.querySelectorAll('#refusals [lang=en]')].map(e => e.innerText).join()")
    rest = b.evaluate(
        "(() => { const c = document.querySelector('#refusals').cloneNode(true);"
        " c.querySelectorAll('[lang=en]').forEach((e) => e.remove()); return c.textContent; })()"
    )
    assert "expected seq" in english and "expected seq" not in rest and "Earlier" not in rest
    assert translate(lang, "register.refused_col.detail") in section
    b.screenshot(ARTIFACTS / f"register-refusals-analyst-{lang}.png")

"""The anomaly queue as a place of work, in headless chromium: a colleague's case, the view in the URL
(page, filters, open incident) through Back, reload and links, bad parameters said, the layout at 1280 px;
sign-in that returns to the link opened, and says when a session ended."""

from __future__ import annotations

import json
import random
import re
import time
import urllib.parse
from pathlib import Path

import pytest

from firmware_sim.catalog import default_catalog, marking_code
from gateway.http.ingest_routes import PROTOBUF
from gateway.wire import pb
from tests.analyst.browser import Browser
from tests.analyst.conftest import (
    A_DEVICE,
    A_STORE,
    FORGED_DEVICE,
    GOLDEN_DAY,
    GOLDEN_TIN,
    Loaded,
    issue,
    registered,
)
from tests.analyst.test_pages import ARTIFACTS, _login, _open, pytestmark  # noqa: F401
from tests.e2e.chain_builder import sale
from tests.e2e.conftest import tracegate
from tests.e2e.test_codes_e2e import check_request

QUEUE = "document.querySelectorAll('#queue tbody tr').length > 0"
ERROR = "document.querySelector('#result .error')"
ON_PAGE_2 = (
    "location.search.includes('page=2') && document.querySelector('#page').innerText.includes('page 2')"
)


@pytest.fixture(scope="module")
def b(browser: Browser) -> Browser:
    """The module's chromium, by a short name."""
    return browser


def _assign(loaded: Loaded, token: str, incident: str) -> None:
    body = json.dumps({"action": "assign"}).encode()
    status, _, raw = loaded.gw.request(
        "POST", f"/v1/anomalies/{incident}/actions", body, "application/json", token
    )
    assert status == 200, raw


def test_a_colleagues_case_is_taken_over_on_the_page(loaded: Loaded, b: Browser) -> None:
    colleague = issue(loaded.gw, "--scope", "analyst", "--label", "aigerim")
    _, page = loaded.get("/v1/anomalies", loaded.analyst, tin=GOLDEN_TIN, status="unassigned", limit=1)
    incident = page["items"][0]["id"]
    _assign(loaded, colleague, incident)
    _login(b, loaded, loaded.analyst)
    # A link to one incident opens it (the colleague sent it, say).
    _open(b, loaded, f"/ui/anomalies?incident={incident}", "document.querySelector('#case-theirs')")
    assert "aigerim works on this case" in b.text("#case-theirs")
    assert b.evaluate("document.querySelector('#incident button[data-action=resolve]').disabled")
    assert b.evaluate("document.querySelector('#incident button[data-action=assign]').disabled")
    b.screenshot(ARTIFACTS / "anomalies-colleagues-case.png")
    b.click("#take-over")
    b.wait_for("document.querySelector('#history').innerText.includes('took it over from aigerim')")
    assert "taken by tests" in b.text("#case-state")
    assert not b.evaluate("document.querySelector('#case-theirs')")
    b.click("#incident button[data-action=resolve]")
    b.wait_for("document.querySelector('#case-state').innerText.includes('resolved')")
    # Escape closes the panel, and the address forgets the incident.
    b.evaluate("document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'}))")
    b.wait_for("document.querySelector('#incident').hidden")
    assert "incident=" not in b.evaluate("location.search")
    assert not b.console_errors, b.console_errors


def test_the_queue_view_lives_in_the_url(loaded: Loaded, b: Browser) -> None:
    _login(b, loaded, loaded.analyst)
    _open(b, loaded, "/ui/anomalies", QUEUE)
    first = b.evaluate("document.querySelector('#queue tbody tr').dataset.id")
    b.click("#next")
    b.wait_for(ON_PAGE_2)
    b.wait_for(QUEUE)
    second = b.evaluate("document.querySelector('#queue tbody tr').dataset.id")
    assert second != first
    b.goto(b.evaluate("location.href"))  # reload: still page 2
    b.wait_for(QUEUE + " && document.querySelector('#page').innerText.includes('page 2')")
    assert b.evaluate("document.querySelector('#queue tbody tr').dataset.id") == second
    b.click("#prev")  # newer works after a reload
    b.wait_for("document.querySelector('#page').innerText.includes('page 1')")
    b.wait_for(f"document.querySelector('#queue tbody tr')?.dataset.id === {json.dumps(first)}")
    b.evaluate("history.back()")  # Back returns to page 2, not out of the queue
    b.wait_for(ON_PAGE_2)
    b.wait_for(f"document.querySelector('#queue tbody tr')?.dataset.id === {json.dumps(second)}")
    # Opening an incident is a step too: Back closes it.
    b.click("#queue button.open")
    b.wait_for("location.search.includes('incident=') && !document.querySelector('#incident').hidden")
    b.evaluate("history.back()")
    b.wait_for("document.querySelector('#incident').hidden && !location.search.includes('incident=')")
    # status=assigned (documented) filters; what the page cannot read is said, never silently dropped.
    _, unassigned = loaded.get("/v1/anomalies", loaded.analyst, status="unassigned", limit=1)
    _assign(loaded, loaded.analyst, unassigned["items"][0]["id"])
    _open(b, loaded, "/ui/anomalies?status=assigned", QUEUE)
    assert b.evaluate("document.querySelector('#status').value") == "assigned"
    rows = "[...document.querySelectorAll('#queue tbody tr')]"
    cases = b.evaluate(rows + ".map(r => r.lastElementChild.innerText)")
    assert cases and all(" · " in c for c in cases), cases
    assert cases[0].split(" · ")[0] in ("Open", "Resolved")  # capitalised as the filter's options
    for path, says in (
        ("/ui/anomalies?status=bogus", "status must be one of"),
        ("/ui/anomalies?preset=custom&since=2026-99-01", "since"),
        ("/ui/anomalies?until=2026-13-45", "until"),
        ("/ui/receipts?date=2026-13-45", "date"),
    ):
        _open(b, loaded, path, ERROR)
        assert says in b.text("#result"), path
        assert not b.evaluate("document.querySelector('#queue, #receipts')"), path
    assert not b.console_errors, b.console_errors


def test_a_retailer_asking_for_another_seller_is_told_no(loaded: Loaded, b: Browser) -> None:
    _login(b, loaded, loaded.retailer_a)
    _open(b, loaded, "/ui/anomalies?tin=" + loaded.tin_b, ERROR)
    assert "only your own seller TIN" in b.text("#result")
    assert loaded.tin_b not in b.text("#result") and not b.evaluate("document.querySelector('#queue')")
    assert b.evaluate("document.querySelector('#tin').value") == GOLDEN_TIN


def test_a_non_receipt_event_links_to_its_register(loaded: Loaded, b: Browser) -> None:
    _login(b, loaded, loaded.analyst)
    _open(b, loaded, f"/ui/anomalies?device={FORGED_DEVICE}&kind=shift_receipts_mismatch", QUEUE)
    href = b.evaluate("document.querySelector('#queue tbody tr').children[4].querySelector('a').href")
    assert urllib.parse.urlsplit(href).path == "/ui/register", href
    b.goto(href)
    b.wait_for("document.querySelector('#z-reports')")
    assert "no such receipt" not in b.text().lower()


def test_the_queue_fits_1280_pixels(loaded: Loaded, b: Browser) -> None:
    _login(b, loaded, loaded.analyst)
    _open(b, loaded, "/ui/anomalies", QUEUE)
    assert b.evaluate("document.querySelectorAll('#queue > thead th').length") == 8
    assert b.evaluate("!document.querySelector('#queue > tbody th')")
    box = "document.querySelector('#queue').parentElement"
    assert b.evaluate(f"{box}.scrollWidth <= {box}.clientWidth")
    right = b.evaluate("document.querySelector('#queue thead th:last-child').getBoundingClientRect().right")
    assert right <= 1280 and b.text("#queue thead th:last-child") == "Case"
    b.screenshot(ARTIFACTS / "anomalies-1280.png")



def _sign_in_here(b: Browser, token: str) -> None:
    b.wait_for("document.querySelector('#login button').textContent.length > 0")
    b.fill("#token", token)
    b.click("#login button")


def test_sign_in_returns_to_the_link_and_an_ended_session_says_so(loaded: Loaded, b: Browser) -> None:
    link = "/ui/anomalies?kind=code_clone"
    b.goto(loaded.gw.url + "/ui/login")
    b.evaluate("sessionStorage.clear()")
    b.goto(loaded.gw.url + link)  # a link a colleague sent, opened in a fresh tab
    b.wait_for("location.pathname === '/ui/login'")
    _sign_in_here(b, loaded.analyst)
    b.wait_for(f"location.pathname + location.search === {json.dumps(link)}")
    b.wait_for(QUEUE)
    # Only our own pages: another site, or the API through a dot-dot path, lands on the dashboard.
    for bad in ("https://evil.example/ui/x", "//evil.example/ui/x", "/ui/../v1/whoami"):
        b.goto(loaded.gw.url + "/ui/login?next=" + urllib.parse.quote(bad, safe=""))
        _sign_in_here(b, loaded.analyst)
        b.wait_for("location.pathname === '/ui/dashboard'")
        assert b.evaluate("location.host") == urllib.parse.urlsplit(loaded.gw.url).netloc
    # A token revoked while in use: the next page says the session ended, and signing in returns there.
    out = tracegate("tokens", "issue", "--data", str(loaded.gw.data), "--scope", "retailer",
                    "--tin", GOLDEN_TIN, "--json")
    issued = json.loads(out.stdout)
    b.goto(loaded.gw.url + "/ui/login")
    _sign_in_here(b, issued["token"])
    b.wait_for("location.pathname === '/ui/dashboard'")
    tracegate("tokens", "revoke", "--data", str(loaded.gw.data), issued["token_id"])
    b.goto(loaded.gw.url + "/ui/receipts")
    b.wait_for("document.querySelector('#ended')")
    assert "session has ended" in b.text("#ended") and "revoked" in b.text("#ended")
    assert b.evaluate("new URLSearchParams(location.search).get('next')") == "/ui/receipts"
    b.screenshot(ARTIFACTS / "login-session-ended.png")


def _a_checked_code(loaded: Loaded, tmp: Path) -> tuple[str, str]:
    """A registry code of seller A's, checked before sale by a register of A's: (code, check id)."""
    register = registered(loaded.gw, "check-a-0001", GOLDEN_TIN, A_STORE)
    code = marking_code(next(g for g in default_catalog() if g.marking_group == "shoes"), random.Random(9200))
    (tmp / "registry.csv").write_text(f"code,owner_tin,status\n{code},{GOLDEN_TIN},introduced\n")
    tracegate("codes", "import", str(tmp / "registry.csv"), "--data", str(loaded.gw.data))
    status, _, body = loaded.gw.request("POST", "/v1/codes/check", check_request(register, [code]), PROTOBUF)
    assert status == 200, body
    check_id = pb.CodeCheckResponse.FromString(body).check_id
    deadline = time.monotonic() + 30
    while not loaded.gw.sql(f"SELECT 1 FROM tracegate.code_events WHERE check_id = '{check_id}'"):
        assert time.monotonic() < deadline, "the check never reached code_events"
        time.sleep(0.3)
    return code, check_id


def test_a_pre_sale_check_on_the_trace_is_a_check_not_a_receipt(
    loaded: Loaded, b: Browser, tmp_path: Path
) -> None:
    code, check_id = _a_checked_code(loaded, tmp_path)
    _login(b, loaded, loaded.retailer_a)
    path = "/ui/trace?code=" + urllib.parse.quote(code, safe="")
    _open(b, loaded, path, "document.querySelector('#timeline')")
    check = b.evaluate("[...document.querySelectorAll('#timeline li.check')].map(l => l.innerText).join('|')")
    assert f"check id {check_id}" in check and "receipt 0" not in check and "line 0" not in check
    assert "may be sold" in check and "verdict." not in check, check  # a word, not the catalogue's key
    assert not b.evaluate("document.querySelector('#timeline li.check a[href^=\"/ui/receipt\"]')")


def test_analysts_read_the_seller_pages_as_about_a_seller(loaded: Loaded, b: Browser) -> None:
    for token, menu, title in (
        (loaded.analyst, "Seller's books", "Does a seller's shift add up?"),
        (loaded.retailer_a, "My books", "Does my shift add up?"),
    ):
        _login(b, loaded, token)
        _open(b, loaded, "/ui/reconcile", "document.querySelector('#who').innerText.length > 0")
        b.wait_for(f"document.querySelector('h1').innerText === {json.dumps(title)}")
        assert b.text("header nav a[href='/ui/books']") == menu
        assert ("My books" in b.text("header")) == (token == loaded.retailer_a)


def test_the_dashboard_range_speaks_the_queues_parameters(loaded: Loaded, b: Browser) -> None:
    _login(b, loaded, loaded.analyst)
    b.wait_for("document.querySelector('#period').innerText.includes('UTC+5')")
    times = re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d", b.text("#period"))
    assert len(times) == 2 and times[1] <= b.evaluate("when(Date.now())"), times  # no end in the future
    # The address's until is the field's: the last day, inclusive; the old since_day/until_day say the same.
    for days in ("/ui/dashboard?since=2026-01-10&until=2026-01-20",
                 "/ui/dashboard?preset=custom&since_day=2026-01-10&until_day=2026-01-20"):
        _open(b, loaded, days, "document.querySelector('#by-kind a')")
        assert b.evaluate("document.querySelector('#since').value") == "2026-01-10"
        assert b.evaluate("document.querySelector('#until').value") == "2026-01-20"
        assert "2026-01-10 00:00" in b.text("#period") and "2026-01-21 00:00" in b.text("#period")
        assert "per day" in b.text().lower()
        assert "since=2026-01-10&until=2026-01-20" in b.evaluate("location.search")
    # One day is since = until, on the dashboard and in the queue its links open.
    one_day = f"/ui/dashboard?preset=custom&since={GOLDEN_DAY}&until={GOLDEN_DAY}"
    _open(b, loaded, one_day, "document.querySelector('#by-kind a')")
    assert f"From {GOLDEN_DAY} 00:00 to 2026-01-16 00:00" in b.text("#period")
    assert not b.text("#receipt-total").startswith("0 "), b.text("#receipt-total")
    href = b.evaluate("document.querySelector('#by-kind a').href")
    assert f"since={GOLDEN_DAY}&until={GOLDEN_DAY}" in href, href
    b.goto(href)
    b.wait_for(QUEUE)
    assert b.evaluate("document.querySelector('#until').value") == GOLDEN_DAY
    assert not b.evaluate(ERROR)  # not "the end of the period must come after its start"
    for path, says in (
        ("/ui/dashboard?preset=custom&since=2020-01-01&until=2026-12-04", "400 days"),
        ("/ui/dashboard?preset=custom&since=2026-99-01", "since"),
    ):
        _open(b, loaded, path, ERROR)
        assert says in b.text("#result") and b.text("#period") == "", path  # not the last 24 h


def test_a_retailer_downloads_its_audit_export_and_it_verifies(
    loaded: Loaded, b: Browser, tmp_path: Path
) -> None:
    _login(b, loaded, loaded.retailer_a)
    _open(b, loaded, "/ui/export", "document.querySelector('#tin').readOnly")
    assert b.evaluate("document.querySelector('#tin').value") == GOLDEN_TIN
    assert "tracegate verify" in b.text("main")
    assert b.text("header nav a[href='/ui/export']") == "Audit export"
    # What the reader saves is kept in the page, to be checked here as an auditor would.
    b.evaluate("window.download = (data, name) => { window.saved = {data, name}; }")
    b.click("#export button")
    b.wait_for("document.querySelector('#exported')")
    assert re.search(r"Downloaded: [1-9]\d* event\(s\)", b.text("#exported")), b.text("#exported")
    assert loaded.tin_b not in str(b.evaluate("window.saved.data.text()"))
    # One register's file, checked offline against the key the page offers: authentic and complete.
    b.fill("#device", A_DEVICE)
    b.click("#export button")
    b.wait_for(f"window.saved.name.includes({json.dumps(A_DEVICE)})")
    export = tmp_path / str(b.evaluate("window.saved.name"))
    export.write_text(str(b.evaluate("window.saved.data.text()")))
    b.click("#key")
    b.wait_for("window.saved.name === 'export-key.pem'")
    key = tmp_path / "export-key.pem"
    key.write_text(str(b.evaluate("window.saved.data")))
    verified = tracegate("verify", "--export-key", str(key), str(export))
    assert "RESULT PASS" in verified.stdout, verified.stdout
    # Another seller's register is not there for a retailer (as if it did not exist).
    b.fill("#device", "iso-b-0001")
    b.click("#export button")
    b.wait_for(ERROR)
    assert b.evaluate("window.saved.name") == "export-key.pem"  # nothing saved


def test_an_analyst_follows_a_shift_link_to_that_sellers_day(loaded: Loaded, b: Browser) -> None:
    _login(b, loaded, loaded.analyst)
    link = "#z-reports a[href^='/ui/reconcile']"
    _open(b, loaded, "/ui/register?device=golden-0001", f"document.querySelector({json.dumps(link)})")
    b.click(link)
    b.wait_for("document.querySelector('#summary, #result .error')")
    assert "add up" in b.text("#summary"), b.text("#result")  # not "Enter the seller's TIN"
    assert b.evaluate("document.querySelector('#tin').value") == GOLDEN_TIN


def test_a_rejection_on_the_dashboard_links_to_its_sellers_day(loaded: Loaded, b: Browser) -> None:
    register = registered(loaded.gw, "reject-a-0001", GOLDEN_TIN, A_STORE)
    # Signed by the seller's register, refused by its chain (a refusal nobody proved names no seller).
    gap = register.envelope(sale(1000, time_ms=int(time.time() * 1000)), seq=3, advance=False)
    [ack] = loaded.gw.ingest([gap]).acks
    assert ack.status == pb.REJECTED and ack.error_code == "seq_gap", ack
    deadline = time.monotonic() + 30
    while not loaded.gw.sql(f"SELECT 1 FROM tracegate.rejections WHERE device_id = '{register.device_id}'"):
        assert time.monotonic() < deadline, "the rejection never reached ClickHouse"
        time.sleep(0.3)
    _login(b, loaded, loaded.analyst)
    link = f"#result a[href^='/ui/reconcile?tin={GOLDEN_TIN}&']"
    b.wait_for(f"document.querySelector({json.dumps(link)})")
    b.click(link)
    b.wait_for("document.querySelector('#summary, #result .error')")
    assert "Earlier documents missing" in b.text("#result"), b.text("#result")
    assert b.evaluate("document.querySelector('#tin').value") == GOLDEN_TIN


def test_an_export_of_a_reversed_period_is_refused_not_an_empty_file(loaded: Loaded, b: Browser) -> None:
    status, answer = loaded.get(
        "/v1/export", loaded.analyst, tin=GOLDEN_TIN, since="2026-12-05", until="2026-12-01"
    )
    assert status == 400 and answer["error"] == "malformed_request", answer
    assert "must come after its start" in answer["detail"], answer
    _login(b, loaded, loaded.analyst)
    _open(b, loaded, "/ui/export", "document.querySelector('#export button')")
    b.evaluate("window.saved = null; window.download = (data, name) => { window.saved = {data, name}; }")
    b.fill("#tin", GOLDEN_TIN)
    b.fill("#since", "2026-01-20")
    b.fill("#until", "2026-01-10")
    b.click("#export button")
    b.wait_for(ERROR)
    assert "The end of the period must come after its start." in b.text("#result")
    assert b.evaluate("window.saved") is None  # nothing downloaded

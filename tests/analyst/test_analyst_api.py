"""The analyst/retailer API against the real gateway process on real chDB with firmware_sim data."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import time
import urllib.parse

import pytest

from gateway.wire import pb
from tests.analyst.conftest import FORGED_DEVICE, GOLDEN_DAY, GOLDEN_TIN, Loaded, registered
from tests.e2e.chain_builder import ChainedRegister, sale
from tests.e2e.conftest import tracegate

pytestmark = pytest.mark.clickhouse


def _a_sold_code(loaded: Loaded) -> tuple[str, str]:
    rows = loaded.gw.sql(
        "SELECT marking_codes[1], seller_tin FROM tracegate.receipt_lines WHERE length(marking_codes) > 0"
        " AND operation = 'SELL' AND device_id NOT LIKE 'golden%' AND device_id NOT LIKE 'iso-%'"
        " ORDER BY device_id, seq LIMIT 1"
    )
    return str(rows[0][0]), str(rows[0][1])


def test_no_token_or_a_bad_one_is_refused(loaded: Loaded) -> None:
    assert loaded.get("/v1/anomalies", None)[0] == 401
    assert loaded.get("/v1/anomalies", "tg_ana_nope")[1]["error"] == "unauthorized"
    assert loaded.get("/v1/admin/tokens", loaded.analyst)[1]["error"] == "forbidden"


def test_trace_a_sold_code_shows_the_sale_with_seller_and_receipt(loaded: Loaded) -> None:
    raw, tin = _a_sold_code(loaded)
    status, t = loaded.get("/v1/trace/" + urllib.parse.quote(raw, safe=""), loaded.analyst)
    assert status == 200, t
    assert raw.startswith(t["code"]["cis"])
    sales = [e for e in t["events"] if e["kind"] == "sale"]
    assert sales and tin in {e["seller_tin"] for e in sales} and sales[0]["document_number"] > 0
    assert t["status"] in ("sold", "returned")
    # the bare cis finds the same story
    bare = "/v1/trace/" + urllib.parse.quote(t["code"]["cis"], safe="")
    assert loaded.get(bare, loaded.analyst)[1]["events"] == t["events"]


def test_anomaly_queue_holds_offline_backlogs_sum_errors_and_the_bad_z_report(loaded: Loaded) -> None:
    status, page = loaded.get("/v1/anomalies", loaded.analyst, limit=5)
    assert status == 200, page
    assert page["counts"]["late_upload"] >= 20  # the golden day was uploaded months late
    assert page["counts"]["total_mismatch"] == 1
    assert page["counts"]["shift_receipts_mismatch"] == 1
    _, z = loaded.get("/v1/anomalies", loaded.analyst, kind="shift_receipts_mismatch")
    assert [i["device_id"] for i in z["items"]] == [FORGED_DEVICE]


def test_keyset_paging_walks_the_whole_queue_once(loaded: Loaded) -> None:
    _, first = loaded.get("/v1/anomalies", loaded.analyst, limit=1000)
    everything = [(i["device_id"], i["seq"], i["kind"], i["line"], i["cis"]) for i in first["items"]]
    seen, cursor = [], None
    while True:
        _, page = loaded.get("/v1/anomalies", loaded.analyst, limit=7, cursor=cursor, counts=0)
        seen += [(i["device_id"], i["seq"], i["kind"], i["line"], i["cis"]) for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == everything and len(set(seen)) == len(seen) > 7


def test_filters_and_csv_export_agree(loaded: Loaded) -> None:
    _, page = loaded.get(
        "/v1/anomalies",
        loaded.analyst,
        kind="late_upload",
        device="golden-0002",
        since=GOLDEN_DAY,
        until="2026-01-16",
    )
    assert page["items"] and {i["device_id"] for i in page["items"]} == {"golden-0002"}
    status, text = loaded.get("/v1/anomalies.csv", loaded.analyst, kind="late_upload", device="golden-0002")
    assert status == 200
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == len(page["items"]) and {r["kinds"] for r in rows} == {"late_upload"}
    assert loaded.get("/v1/anomalies", loaded.analyst, since="yesterday")[1]["error"] == "malformed_request"
    for limit in (0, 100_000):
        status, refused = loaded.get("/v1/anomalies", loaded.analyst, limit=limit)
        assert (status, refused["detail"]) == (400, "limit must be between 1 and 1000")
    status, refused = loaded.get("/v1/anomalies", loaded.analyst, kind="late_uplaod")
    assert status == 400 and "“late_uplaod” is not a kind of anomaly" in refused["detail"]
    status, refused = loaded.get("/v1/anomalies", loaded.analyst, cursor="eyJ4IjogMX0=")
    assert status == 400 and "bad cursor" in refused["detail"]
    # Crafted values are a clear 4xx, never a 500.
    for path, params in [
        ("/v1/receipts", {"shift": "99999999999"}),
        ("/v1/receipts", {"amount": "1e30"}),
        ("/v1/receipts", {"cursor": "WzEsICJhIiwgLTFd"}),
        ("/v1/receipts/x/-1", {}),
        ("/v1/receipts/x/99999999999999999999", {}),
        ("/v1/dashboard", {"since": "99999999999999999999"}),
        ("/v1/dashboard", {"since": "2020-01-01", "until": "2026-01-01"}),
        ("/v1/anomalies/zz", {}),
    ]:
        status, refused = loaded.get(path, loaded.analyst, **params)
        assert status in (400, 404), (path, params, refused)
    # Values a filter could misread are refused, not taken for something else: an exponent, digits of
    # another script (full-width, superscript), a flag that is neither 0 nor 1.
    for path, params in [
        ("/v1/receipts", {"amount": "1e3"}),
        ("/v1/receipts", {"shift": "１２３"}),
        ("/v1/receipts", {"shift": "²"}),
        ("/v1/anomalies", {"limit": "１２"}),
        ("/v1/anomalies", {"until": "１２３"}),
        ("/v1/anomalies", {"counts": "yes"}),
        ("/v1/reconcile/shifts", {"tin": "123", "date": "2026-12-05"}),  # a typo, not a seller with nothing
    ]:
        status, refused = loaded.get(path, loaded.analyst, **params)
        assert (status, refused["error"]) == (400, "malformed_request"), (path, params, refused)


def test_reconcile_a_good_day_and_a_shift_that_does_not_add_up(loaded: Loaded) -> None:
    _, good = loaded.get("/v1/reconcile/shifts", loaded.analyst, tin=GOLDEN_TIN, date=GOLDEN_DAY)
    golden = [s for s in good["shifts"] if s["device_id"] == "golden-0001"]
    assert golden and golden[0]["agrees"] and golden[0]["missing_document_count"] == 0
    _, bad = loaded.get("/v1/reconcile/shifts", loaded.retailer_b, date=loaded.forged_day)
    forged = next(s for s in bad["shifts"] if s["device_id"] == FORGED_DEVICE)
    assert not forged["agrees"]
    sell = forged["operations"][0]
    assert (sell["z_count"], sell["receipts_count"], sell["z_sum"], sell["receipts_sum"]) == (
        2,
        1,
        3000,
        1500,
    )
    assert forged["missing_documents"] == [2]


def _books(loaded: Loaded) -> str:
    rows = loaded.gw.sql(
        "SELECT document_number, device_id, toUnixTimestamp64Milli(event_time), total FROM tracegate.receipts"
        f" WHERE seller_tin = '{GOLDEN_TIN}' AND device_id = 'golden-0001' ORDER BY document_number"
    )
    assert len(rows) >= 3
    lines = ["document_number,device_id,time,total"]
    for n, (doc, device, ms, total) in enumerate(rows):
        if n == 0:
            continue  # missing in their books
        if n == 1:
            total += 100  # amount differs by 1.00
        lines.append(f"{doc},{device},{ms},{total // 100}.{total % 100:02d}")
    lines.append(f"9999,golden-0001,{rows[-1][2]},10.00")  # missing on our side
    return "\n".join(lines) + "\n"


def test_books_comparison_as_json_and_csv(loaded: Loaded) -> None:
    books = _books(loaded).encode()
    status, result = loaded.post("/v1/reconcile/books", loaded.retailer_a, books)
    assert status == 200, result
    s = result["summary"]
    assert s["missing_on_our_side"] == 1 and s["amount_differs"] == 1 and s["matched"] >= 1
    assert s["missing_in_your_books"] >= 1
    differs = next(r for r in result["rows"] if r["status"] == "amount_differs")
    assert differs["difference"] == -100
    _, text = loaded.post("/v1/reconcile/books", loaded.retailer_a, books, format="csv")
    assert text.splitlines()[0].startswith("status,device_id,document_number")
    assert "amount_differs" in text and "-1.00" in text
    # For people: the dialect their Excel reads, headers and statuses in their language.
    _, ru = loaded.post(
        "/v1/reconcile/books", loaded.retailer_a, books, format="csv", dialect="excel", lang="ru"
    )
    assert ru.startswith("\ufeffСтатус;Касса;Номер документа") and "сумма расходится" in ru and "-1,00" in ru
    bad = loaded.post("/v1/reconcile/books", loaded.retailer_a, b"doc,total\n1,2\n")[1]
    assert bad["error"] == "malformed_request" and "header" in bad["detail"]
    # An amount in exponent form is no amount a person books: the row is named, not read as 1,000.
    exponent = books.splitlines()[0] + b"\n7,golden-0001,2026-01-15T10:00,1e3\n"
    status, refused = loaded.post("/v1/reconcile/books", loaded.retailer_a, exponent)
    assert (status, refused["error"]) == (400, "books_row_unreadable"), refused


def test_dashboard_counts_receipts_per_hour_and_anomalies(loaded: Loaded) -> None:
    # An event that says no time (bytes that are no Event: kept as signed) is no delay of 57 years.
    timeless = registered(loaded.gw, "timeless-0001", "770101399999", "timeless-01")
    assert loaded.gw.ingest([timeless.envelope(b"\xff\x01")]).acks[0].status == pb.ACCEPTED
    deadline = time.monotonic() + 30
    while not loaded.gw.sql("SELECT 1 FROM tracegate.events WHERE device_id = 'timeless-0001'"):
        assert time.monotonic() < deadline, "the event never reached ClickHouse"
        time.sleep(0.3)
    status, d = loaded.get("/v1/dashboard", loaded.analyst)
    assert status == 200
    assert 0 < d["ingest"]["max_delay_ms"] < 5 * 365 * 24 * 3_600_000, d["ingest"]  # not since 1970
    assert sum(h["receipts"] for h in d["hours"]) > 0 and len(d["hours"]) == 24
    assert d["ingest"]["events"] > 0 and "shipper" in d["ingest"]
    _, old = loaded.get("/v1/dashboard", loaded.analyst, since=GOLDEN_DAY, until="2026-01-16")
    assert {k["kind"] for k in old["anomalies_by_kind"]} >= {"late_upload", "total_mismatch"}
    assert old["top_sellers"][0]["seller_tin"] == GOLDEN_TIN


def test_cli_answers_through_the_running_gateway(loaded: Loaded) -> None:
    data = str(loaded.gw.data)
    out = tracegate("anomalies", "--data", data, "--kind", "shift_receipts_mismatch").stdout
    assert FORGED_DEVICE in out and "1 incident" in out and "TIME (UTC+5)" in out
    clone = tracegate("anomalies", "--data", data, "--kind", "code_clone").stdout
    assert loaded.double_sold in clone and "code_sold_twice +2" in clone  # the table shows the code
    dotted = tracegate("anomalies", "--data", data, "--since", "04.12.2026", check=False)
    assert dotted.returncode == 0, dotted.stderr  # a date as people type it in Kazakhstan
    bad = tracegate("anomalies", "--data", data, "--since", "4 Dec", check=False)
    assert bad.returncode == 1 and "--since: not a date" in bad.stderr and "Traceback" not in bad.stderr
    wrong = tracegate("anomalies", "--data", data, "--limit", "0", check=False)
    assert wrong.returncode == 1 and "limit must be between 1 and 1000" in wrong.stderr
    out = tracegate("reconcile", "--data", data, "--tin", GOLDEN_TIN, "--date", GOLDEN_DAY).stdout
    assert "golden-0001 shift 1" in out and "OK" in out
    raw, _ = _a_sold_code(loaded)
    out = tracegate("trace", "--data", data, raw.replace("\x1d", "\\u001d")).stdout
    assert "sale" in out and "1 sale(s)" in out
    retailer = tracegate(
        "anomalies", "--data", data, "--token", loaded.retailer_a, "--tin", loaded.tin_b, check=False
    )
    assert retailer.returncode == 1 and "forbidden" in retailer.stderr


def test_openapi_lists_every_route_and_no_other(loaded: Loaded) -> None:
    from gateway.http.app import create_app
    from gateway.settings import load_settings

    app = create_app(load_settings())
    routes = {
        (r.method.lower(), r.resource.canonical)
        for r in app.router.routes()
        if r.resource is not None
        and r.method != "HEAD"
        and not r.resource.canonical.startswith(("/ui", "/favicon.ico"))  # pages, not the API
    }
    routes = {(m, path.replace("{code:.+}", "{code}")) for m, path in routes}
    status, doc = loaded.get("/v1/openapi.json", None)
    assert status == 200
    documented = {(m, path) for path, ops in doc["paths"].items() for m in ops}
    assert routes == documented


def test_a_misspelt_or_repeated_filter_is_refused_not_ignored(loaded: Loaded) -> None:
    status, refused = loaded.get("/v1/anomalies", loaded.analyst, seler=GOLDEN_TIN)
    assert (status, refused["error"]) == (400, "unknown_parameter")
    assert "“seler”" in refused["detail"] and "tin" in refused["detail"].split(":")[-1]
    status, refused = loaded.get("/v1/dashboard", loaded.analyst, tin=GOLDEN_TIN, lang="ru", days="7")
    assert (status, refused["error"]) == (400, "unknown_parameter") and "не параметр" in refused["detail"]
    both = urllib.parse.urlencode([("tin", GOLDEN_TIN), ("tin", "080740000019")])
    status, _, raw = loaded.gw.request("GET", f"/v1/anomalies?{both}", None, None, loaded.analyst)
    assert (status, json.loads(raw)["error"]) == (400, "repeated_parameter")
    # The lists may repeat, and every path takes lang.
    kinds = urllib.parse.urlencode([("kind", "late_upload"), ("kind", "line_sum_mismatch"), ("lang", "kk")])
    status, _, raw = loaded.gw.request("GET", f"/v1/anomalies?{kinds}", None, None, loaded.analyst)
    assert status == 200 and json.loads(raw)["items"]
    # The consumer check is not the API: a vendor's QR link may carry what it likes.
    # Nor what firmware posts to: a cache-buster must not stop a register's uploads.
    _, _, raw = loaded.gw.request("POST", "/v1/batches?nocache=1", b"", "application/x-protobuf")
    assert json.loads(raw)["error"] == "empty_body"  # read as any empty upload, the parameter ignored
    # What cannot be printed is not echoed (a direction override would turn the sentence around).
    status, refused = loaded.get("/v1/dashboard", loaded.analyst, **{"\u202eevil": "1"})
    assert status == 400 and "\u202e" not in refused["detail"] and "\ufffdevil" in refused["detail"]
    qr_link = "/check?i=1&f=2&s=3.00&t=20260115T093000&vendor=x"
    assert loaded.gw.request("GET", qr_link, None, None, None)[0] == 200


def test_case_note_errors_say_the_limit_in_the_readers_language(loaded: Loaded) -> None:
    def note(text: str, lang: str) -> tuple[int, dict[str, str]]:
        body = json.dumps({"action": "note", "note": text}).encode()
        status, _, raw = loaded.gw.request(
            "POST", f"/v1/anomalies/any/actions?lang={lang}", body, "application/json", loaded.analyst
        )
        return status, json.loads(raw)

    status, answer = note("x" * 2001, "ru")
    assert status == 400 and answer["error"] == "malformed_request"  # the stable code stays
    detail = answer["detail"]
    assert "2000" in detail and "2001" in detail and "≤" not in detail and "Заметка" in detail
    status, answer = note("   ", "en")
    assert status == 400 and "empty" in answer["detail"] and "needs its text" not in answer["detail"]


def test_anomaly_csv_for_people_reads_first_and_a_fast_clock_does_not_jump_the_queue(loaded: Loaded) -> None:
    register = ChainedRegister("skew-0001")
    status, answer = loaded.gw.admin(
        "POST",
        "/v1/admin/devices",
        {
            "device_id": "skew-0001",
            "seller_tin": GOLDEN_TIN,
            "store_id": "S-1",
            "public_key_pem": register.public_key_pem,
        },
    )
    assert status == 201, answer
    now = int(time.time() * 1000)
    # A register a day ahead sends first; a sum error arrives after it.
    assert (
        loaded.gw.ingest([register.envelope(sale(1500, time_ms=now + 86_400_000))]).acks[0].status
        == pb.ACCEPTED
    )
    time.sleep(0.05)
    assert loaded.gw.ingest([register.envelope(sale(1500, lines_sum=900))]).acks[0].status == pb.ACCEPTED
    deadline = time.monotonic() + 30
    while True:
        _, text = loaded.get(
            "/v1/anomalies.csv", loaded.analyst, device="skew-0001", dialect="excel", lang="ru"
        )
        rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
        if len(rows) == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    header, newest, older = rows
    assert header[:4] == [
        "обнаружено шлюзом (UTC+5)",
        "произошло, по часам кассы (UTC+5)",
        "что не так",
        "простыми словами",
    ]
    assert header[-2:] == ["виды (идентификаторы)", "идентификатор случая"]  # the ids stay, last
    kinds = header.index("виды (идентификаторы)")
    # The queue's order is when the gateway found each: the day-ahead event is not "newest".
    assert older[kinds] == "clock_skew" and older[2] == "Часы кассы спешат относительно шлюза"
    assert newest[kinds] != "clock_skew" and older[1] > older[0] and newest[0] >= older[0]
    assert newest[header.index("работа")] == "открыт"  # the case status in words, too


def test_many_codes_csv_for_excel_speaks_the_readers_language(loaded: Loaded) -> None:
    body = f"{loaded.double_sold}\nnot-a-code\n".encode()
    status, text = loaded.post(
        "/v1/codes/statuses", loaded.retailer_a, body, format="csv", dialect="excel", lang="ru"
    )
    assert status == 200
    header, *rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert header[:4] == ["как указано", "код (cis)", "GTIN", "статус"]
    assert [r[3] for r in rows] == ["продан", "не читается"]
    status, text = loaded.post("/v1/codes/statuses", loaded.retailer_a, body, format="csv")
    assert text.splitlines()[0].startswith("input,cis,gtin,status") and ",sold," in text  # for scripts


def test_a_register_whose_clock_runs_ahead_is_in_the_day_it_was_found(loaded: Loaded) -> None:
    fast = registered(loaded.gw, "fast-clock-0001", "770101399998", "fast-01")
    tomorrow = int(time.time() * 1000) + 30 * 3_600_000  # another local day, whatever the hour now
    assert loaded.gw.ingest([fast.envelope(sale(1000, time_ms=tomorrow))]).acks[0].status == pb.ACCEPTED
    deadline = time.monotonic() + 30
    while not loaded.gw.sql("SELECT 1 FROM tracegate.anomalies WHERE device_id = 'fast-clock-0001'"):
        assert time.monotonic() < deadline, "the anomaly never reached ClickHouse"
        time.sleep(0.3)
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=5))).date()
    day = {"since": today.isoformat(), "until": (today + dt.timedelta(days=1)).isoformat()}  # API: exclusive
    _, found = loaded.get("/v1/anomalies", loaded.analyst, device="fast-clock-0001", **day)
    assert [i["kinds"] for i in found["items"]] == [["clock_skew"]], found
    # The dashboard counts incidents over the same period, as the queue it links to does.
    _, board = loaded.get("/v1/dashboard", loaded.analyst, **day)
    sellers = {s["seller_tin"]: s["anomalies"] for s in board["top_sellers"]}
    for tin, counted in sellers.items():
        _, queue = loaded.get("/v1/anomalies", loaded.analyst, tin=tin, limit=1, **day)
        assert queue["total"] == counted, (tin, counted, queue["total"])


def test_books_that_write_a_refund_negative_or_positive_match_it(loaded: Loaded) -> None:
    register = registered(loaded.gw, "refund-0001", "770101399997", "refund-01")
    now = int(time.time() * 1000)
    sold, refunded = sale(1500, time_ms=now - 60_000), sale(1500, time_ms=now)
    refunded.receipt.operation, refunded.receipt.document_number = pb.SELL_RETURN, 2
    acks = loaded.gw.ingest([register.envelope(sold), register.envelope(refunded)]).acks
    assert [a.status for a in acks] == [pb.ACCEPTED] * 2
    deadline = time.monotonic() + 30
    while len(loaded.gw.sql("SELECT 1 FROM tracegate.receipts WHERE device_id = 'refund-0001'")) < 2:
        assert time.monotonic() < deadline, "the receipts never reached ClickHouse"
        time.sleep(0.3)
    day = dt.datetime.fromtimestamp(now / 1000, dt.timezone(dt.timedelta(hours=5))).isoformat()
    outcomes, tin = {}, "770101399997"
    for refund in ("-15.00", "15.00", "-14.00"):
        books = f"document_number,device_id,time,total\n1,refund-0001,{day},15.00\n"
        books += f"2,refund-0001,{day},{refund}\n"
        status, result = loaded.post("/v1/reconcile/books", loaded.analyst, books.encode(), tin=tin)
        assert status == 200, result
        row = next(r for r in result["rows"] if r["document_number"] == 2)
        outcomes[refund] = (row["status"], row["operation"], row["our_total"], row["difference"])
    assert outcomes == {
        "-15.00": ("matched", "SELL_RETURN", -1500, 0),
        "15.00": ("matched", "SELL_RETURN", 1500, 0),
        "-14.00": ("amount_differs", "SELL_RETURN", -1500, -100),
    }
    _, text = loaded.post("/v1/reconcile/books", loaded.analyst, books.encode(), tin=tin, format="csv")
    assert text.splitlines()[0].startswith("status,device_id,document_number,operation,")

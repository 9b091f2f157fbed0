"""A retailer never sees another seller: every API answer and CSV of a retailer is scanned for another
seller's TIN, stores and registers (the page scan is in test_pages.py, on the same identifiers)."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest

from tests.analyst.conftest import (
    A_DEVICE,
    B_DEVICE,
    B_STORE,
    GOLDEN_DAY,
    GOLDEN_TIN,
    SILENT_DEVICE,
    Loaded,
    refusing_register,
)

pytestmark = pytest.mark.clickhouse


def other_sellers_identifiers(loaded: Loaded, tin: str) -> set[str]:
    """Every TIN other than tin, and the stores and registers only other sellers have."""
    sql = loaded.gw.sql
    tins = {str(r[0]) for r in sql("SELECT DISTINCT seller_tin FROM tracegate.events")}
    tins |= {str(r[0]) for r in sql("SELECT DISTINCT owner_tin FROM tracegate.code_registry")}
    mine = {
        str(v)
        for r in sql(f"SELECT DISTINCT store_id, device_id FROM tracegate.events WHERE seller_tin = '{tin}'")
        for v in r
    }
    theirs = {
        str(v)
        for r in sql(f"SELECT DISTINCT store_id, device_id FROM tracegate.events WHERE seller_tin != '{tin}'")
        for v in r
    }
    found = (tins - {tin, ""}) | (theirs - mine)
    assert loaded.tin_b in found and B_STORE in found and B_DEVICE in found
    return found


def assert_clean(where: str, body: Any, forbidden: set[str]) -> None:
    """No forbidden identifier anywhere in an answer (JSON, CSV or text)."""
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    leaked = sorted(x for x in forbidden if x in text)
    assert not leaked, f"{where} shows another seller's {leaked}: {text[:600]}"


def retailer_answers(loaded: Loaded, token: str) -> list[tuple[str, Any]]:
    """Every answer the API gives a retailer for the data of the fixture (paths of every reader route)."""
    out: list[tuple[str, Any]] = []

    def get(path: str, **params: Any) -> Any:
        status, body = loaded.get(path, token, **params)
        out.append((f"GET {path} {params} -> {status}", body))
        return body

    def post(path: str, body: bytes, **params: Any) -> Any:
        status, answer = loaded.post(path, token, body, **params)
        out.append((f"POST {path} {params} -> {status}", answer))
        return answer

    get("/v1/whoami")
    get("/v1/anomaly-kinds")
    for lang in ("en", "ru", "kk"):
        cursor = None
        while True:
            page = get("/v1/anomalies", limit=200, cursor=cursor, lang=lang)
            for item in page["items"]:
                get(f"/v1/anomalies/{item['id']}", lang=lang)
            cursor = page["next_cursor"]
            if not cursor:
                break
        get("/v1/anomalies.csv", lang=lang, dialect="excel")
    for code in (loaded.double_sold, loaded.owned_by_b, *loaded.b_only_codes):
        get("/v1/trace/" + urllib.parse.quote(code, safe=""))
    get("/v1/dashboard")
    get("/v1/dashboard", since=GOLDEN_DAY)
    for day in (GOLDEN_DAY, loaded.forged_day):
        get("/v1/reconcile/shifts", date=day)
    receipts = get("/v1/receipts", limit=500)
    for r in receipts["items"][:40]:
        get(f"/v1/receipts/{urllib.parse.quote(r['device_id'])}/{r['seq']}")
    get("/v1/receipts", sign=loaded.b_fiscal_sign)
    for device in (A_DEVICE, B_DEVICE, "golden-0001", refusing_register(loaded.gw), SILENT_DEVICE):
        get(f"/v1/registers/{device}/reports")
        for lang in ("en", "ru"):
            get(f"/v1/registers/{device}/refusals", lang=lang)
            get(f"/v1/registers/{device}/refusals", lang=lang, since="2026-01-01", until="2026-12-31")
    codes = "\n".join([loaded.double_sold, loaded.owned_by_b, *loaded.b_only_codes]).encode()
    post("/v1/codes/statuses", codes)
    post("/v1/codes/statuses", codes, format="csv", dialect="excel")
    books = "\n".join(["Номер чека;Касса;Дата;Сумма", f"1;{A_DEVICE};{loaded.forged_day};25,00"]).encode()
    post("/v1/reconcile/books", books)
    post("/v1/reconcile/books", books, format="csv", dialect="excel", lang="ru")
    return out


def test_no_answer_to_a_retailer_names_another_seller(loaded: Loaded) -> None:
    forbidden = other_sellers_identifiers(loaded, GOLDEN_TIN)
    answers = retailer_answers(loaded, loaded.retailer_a)
    assert len(answers) > 40
    for where, body in answers:
        assert_clean(where, body, forbidden)


def test_the_retailer_reads_another_seller_as_such_and_the_analyst_reads_who(loaded: Loaded) -> None:
    _, mine = loaded.get("/v1/anomalies", loaded.retailer_a, device=A_DEVICE, kind="code_clone")
    [incident] = mine["items"]
    assert incident["kinds"] == ["code_sold_twice", "code_clone", "code_not_owner"]  # one incident
    texts = {f["kind"]: f["text"] for f in incident["facets"]}
    assert texts["code_clone"] == "the same code was sold before by another seller"
    assert "never transferred to you" in texts["code_not_owner"]
    assert "case" not in incident and "other_seller_tin" not in incident["facets"][0]
    _, staff = loaded.get("/v1/anomalies", loaded.analyst, device=A_DEVICE, kind="code_clone", lang="ru")
    facets = {f["kind"]: f for f in staff["items"][0]["facets"]}
    assert facets["code_clone"]["other_seller_tin"] == loaded.tin_b
    assert loaded.tin_b in facets["code_clone"]["text"] and B_STORE in facets["code_clone"]["text"]
    assert facets["code_clone"]["text"].startswith("тот же код ранее продан продавцом")


def test_a_code_of_another_seller_is_not_visible_rather_than_unseen(loaded: Loaded) -> None:
    quoted = urllib.parse.quote(loaded.owned_by_b, safe="")
    _, theirs = loaded.get("/v1/trace/" + quoted, loaded.retailer_a)
    assert (theirs["visible"], theirs["status"], theirs["registry"]) == (False, "not_visible", None)
    _, double = loaded.get("/v1/trace/" + urllib.parse.quote(loaded.double_sold, safe=""), loaded.retailer_a)
    assert double["visible"] and double["registry"]["owner"] == "another"
    assert double["registry"]["owner_tin"] == "" and [e["device_id"] for e in double["events"]] == [A_DEVICE]
    _, staff = loaded.get("/v1/trace/" + quoted, loaded.analyst)
    assert staff["registry"]["owner_tin"] == loaded.tin_b and staff["status"] == "introduced"

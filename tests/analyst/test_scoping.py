"""A retailer token never sees another seller TIN on any endpoint; revoked and expired tokens stop working."""

from __future__ import annotations

import csv
import io
import time
import urllib.parse

import pytest

from gateway import errors
from gateway.auth.tokens import Principal
from gateway.errors import GatewayError
from gateway.query.scoping import scope_for
from tests.analyst.conftest import FORGED_DEVICE, GOLDEN_DAY, GOLDEN_TIN, Loaded, issue
from tests.e2e.conftest import tracegate


def test_scope_is_forced_to_the_retailers_tin() -> None:
    retailer = Principal("retailer", "080740000019")
    assert scope_for(retailer).seller_tin == "080740000019"
    assert scope_for(retailer, "080740000019").seller_tin == "080740000019"
    with pytest.raises(GatewayError) as refused:
        scope_for(retailer, "080740000029")
    assert refused.value.error is errors.FORBIDDEN
    assert scope_for(Principal("analyst")).seller_tin is None
    assert scope_for(Principal("analyst"), "080740000029").seller_tin == "080740000029"


@pytest.mark.clickhouse
def test_every_endpoint_refuses_another_tin_to_a_retailer(loaded: Loaded) -> None:
    other = loaded.tin_b
    for path, params in [
        ("/v1/anomalies", {"tin": other}),
        ("/v1/anomalies.csv", {"tin": other}),
        ("/v1/reconcile/shifts", {"tin": other, "date": GOLDEN_DAY}),
        ("/v1/dashboard", {"tin": other}),
    ]:
        status, body = loaded.get(path, loaded.retailer_a, **params)
        assert (status, body["error"]) == (403, "forbidden"), path
    status, body = loaded.post(
        "/v1/reconcile/books",
        loaded.retailer_a,
        b"document_number,device_id,time,total\n1,x,2026-01-15,1.00\n",
        tin=other,
    )
    assert (status, body["error"]) == (403, "forbidden")
    for path in ("/v1/admin/tokens", "/v1/admin/devices", "/v1/admin/summary"):
        assert loaded.get(path, loaded.retailer_a)[0] in (401, 403), path


@pytest.mark.clickhouse
def test_retailer_sees_only_its_own_rows_where_it_names_no_tin(loaded: Loaded) -> None:
    _, page = loaded.get("/v1/anomalies", loaded.retailer_a, limit=1000)
    assert page["items"] and {i["seller_tin"] for i in page["items"]} == {GOLDEN_TIN}
    assert "shift_receipts_mismatch" not in page["counts"]  # that one is seller B's
    _, text = loaded.get("/v1/anomalies.csv", loaded.retailer_a)
    assert {r["seller_tin"] for r in csv.DictReader(io.StringIO(text))} == {GOLDEN_TIN}
    _, b_page = loaded.get("/v1/anomalies", loaded.retailer_b)
    assert {i["seller_tin"] for i in b_page["items"]} == {loaded.tin_b}
    _, day = loaded.get("/v1/reconcile/shifts", loaded.retailer_a, date=loaded.forged_day)
    assert FORGED_DEVICE not in {s["device_id"] for s in day["shifts"]}
    assert day["seller_tin"] == GOLDEN_TIN
    status, dash = loaded.get("/v1/dashboard", loaded.retailer_a, since=GOLDEN_DAY)
    assert status == 200, dash
    assert {s["seller_tin"] for s in dash["top_sellers"]} <= {GOLDEN_TIN}
    assert "shipper" not in dash["ingest"]
    _, all_dash = loaded.get("/v1/dashboard", loaded.analyst, since=GOLDEN_DAY)
    assert dash["ingest"]["events"] < all_dash["ingest"]["events"]


@pytest.mark.clickhouse
def test_retailer_cannot_trace_or_match_another_sellers_sales(loaded: Loaded) -> None:
    code, doc, total, ms = loaded.gw.sql(
        "SELECT l.marking_codes[1], l.document_number, r.total, toUnixTimestamp64Milli(r.event_time)"
        " FROM tracegate.receipt_lines AS l INNER JOIN tracegate.receipts AS r USING (device_id, seq)"
        f" WHERE l.seller_tin = '{loaded.tin_b}' AND length(l.marking_codes) > 0"
        " AND l.device_id NOT LIKE 'iso-%' LIMIT 1"  # not the code retailer A sold again
    )[0]
    path = "/v1/trace/" + urllib.parse.quote(code, safe="")
    assert loaded.get(path, loaded.analyst)[1]["events"]
    mine = loaded.get(path, loaded.retailer_a)[1]
    assert mine["events"] == [] and mine["status"] == "not_visible" and mine["anomalies"] == []
    assert mine["visible"] is False and mine["registry"] is None
    device = loaded.gw.sql(
        f"SELECT device_id FROM tracegate.receipts WHERE seller_tin = '{loaded.tin_b}'"
        f" AND document_number = {doc} LIMIT 1"
    )[0][0]
    books = f"document_number,device_id,time,total\n{doc},{device},{ms},{total / 100:.2f}\n".encode()
    _, result = loaded.post("/v1/reconcile/books", loaded.retailer_a, books)
    # Not one of A's registers: named as such (as an unknown name would be), nothing of B's compared.
    assert result["summary"] == dict.fromkeys(result["summary"], 0) and result["rows"] == []
    assert result["covers"]["not_sellers_registers"] == [device] and result["covers"]["devices"] == []
    typo = books.replace(device.encode(), b"no-such-register")
    _, unknown = loaded.post("/v1/reconcile/books", loaded.retailer_a, typo)
    assert unknown["covers"]["not_sellers_registers"] == ["no-such-register"] and unknown["rows"] == []


@pytest.mark.clickhouse
def test_revoked_and_expired_tokens_stop_working(loaded: Loaded) -> None:
    token = issue(loaded.gw, "--scope", "analyst", "--label", "to revoke")
    assert loaded.get("/v1/whoami", token)[0] == 200
    token_id = token.split("_")[2]
    assert token_id in tracegate("tokens", "list", "--data", str(loaded.gw.data)).stdout
    tracegate("tokens", "revoke", "--data", str(loaded.gw.data), token_id)
    assert loaded.get("/v1/whoami", token)[0] == 401
    short = issue(loaded.gw, "--scope", "analyst", "--expires-days", "0.00001")  # about 0.9 s
    time.sleep(1.2)
    assert loaded.get("/v1/whoami", short)[0] == 401
    listed = tracegate("tokens", "list", "--data", str(loaded.gw.data), "--json").stdout
    assert token not in listed and "token_hash" not in listed
    bad = tracegate("tokens", "issue", "--data", str(loaded.gw.data), "--scope", "retailer", check=False)
    assert bad.returncode == 1 and "--tin" in bad.stderr

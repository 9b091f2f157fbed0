"""A register's refusals (GET /v1/registers/{device}/refusals) through the real gateway and chDB: counted by
error code for its analyst and its retailer, listed newest first and paged; another seller's register is not
there for a retailer; what was refused before a signature proved the sender is never the seller's."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from gateway.i18n import translate
from gateway.query.local_time import local_day
from tests.analyst.conftest import (
    B_DEVICE,
    GOLDEN_TIN,
    REFUSED_FORGED,
    REFUSED_SIGNED,
    SILENT_DEVICE,
    Loaded,
    refusing_register,
)

pytestmark = pytest.mark.clickhouse


@pytest.fixture(scope="module")
def device(loaded: Loaded) -> str:
    """Seller A's register with refusals it signed and refusals forged in its name."""
    return refusing_register(loaded.gw)


def _refusals(loaded: Loaded, token: str, device: str, **params: Any) -> tuple[int, Any]:
    return loaded.get(f"/v1/registers/{device}/refusals", token, **params)


def _counts(answer: dict[str, Any]) -> dict[str, int]:
    return {c["error_code"]: c["count"] for c in answer["by_code"]}


def _every_item(loaded: Loaded, token: str, device: str, **params: Any) -> list[dict[str, Any]]:
    items, cursor = [], None
    while True:
        status, page = _refusals(loaded, token, device, limit=2, cursor=cursor, **params)
        assert status == 200, page
        assert len(page["items"]) <= 2
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def test_analyst_and_retailer_see_the_signed_refusals_counted_by_code(loaded: Loaded, device: str) -> None:
    for token in (loaded.analyst, loaded.retailer_a):
        status, answer = _refusals(loaded, token, device)
        assert status == 200, answer
        assert _counts(answer) == REFUSED_SIGNED and answer["total"] == sum(REFUSED_SIGNED.values())
        # Most first, each with its reason and advice in the reader's words and when it last happened.
        assert answer["by_code"][0]["error_code"] == "seq_gap"
        gap = answer["by_code"][0]
        assert gap["title"] == "Earlier documents missing" and "in order" in gap["advice"]
        gaps = [i["received_ms"] for i in answer["items"] if i["error_code"] == "seq_gap"]
        assert gap["last_ms"] == max(gaps)
        # The latest, newest first, with their seq and the gateway's detail.
        seqs = {i["error_code"]: i["seq"] for i in answer["items"] if i["error_code"] != "seq_gap"}
        assert seqs == {"prev_hash_mismatch": 2, "chain_fork": 1}
        times = [i["received_ms"] for i in answer["items"]]
        assert times == sorted(times, reverse=True) and answer["next_cursor"] is None
        assert any("expected seq 2, got" in i["detail"] for i in answer["items"])
    # In the reader's language.
    _, russian = _refusals(loaded, loaded.retailer_a, device, lang="ru")
    assert russian["by_code"][0]["title"] == translate("ru", "rejection.seq_gap")
    assert russian["by_code"][0]["title"] == "Нет более ранних документов"
    assert russian["by_code"][0]["advice"] == translate("ru", "advice.seq_gap")
    _, kazakh = _refusals(loaded, loaded.retailer_a, device, lang="kk")
    assert {c["title"] for c in kazakh["by_code"]} >= {translate("kk", "rejection.chain_fork")}


def test_refusals_page_newest_first_and_filter_by_code(loaded: Loaded, device: str) -> None:
    _, first = _refusals(loaded, loaded.retailer_a, device)
    walked = _every_item(loaded, loaded.retailer_a, device)
    assert walked == first["items"]  # each once, in the same order, two a page
    gaps = _every_item(loaded, loaded.retailer_a, device, code="seq_gap")
    assert sorted(i["seq"] for i in gaps) == list(range(4, 15))
    assert {i["error_code"] for i in gaps} == {"seq_gap"}
    # The counts stay the period's whatever the list shows.
    _, filtered = _refusals(loaded, loaded.retailer_a, device, code="seq_gap")
    assert _counts(filtered) == REFUSED_SIGNED
    # A period without them counts none; a code that is no code is said, in the reader's language.
    today = local_day(first["items"][0]["received_ms"])
    month_before = (today - dt.timedelta(days=30)).isoformat()
    _, before = _refusals(loaded, loaded.retailer_a, device, since=month_before, until=today.isoformat())
    assert before["total"] == 0 and before["items"] == [] and before["by_code"] == []
    status, bad = _refusals(loaded, loaded.retailer_a, device, code="bogus", lang="ru")
    assert status == 400 and bad["error"] == "malformed_request" and "не код ошибки" in bad["detail"]
    status, reversed_ = _refusals(loaded, loaded.analyst, device, since="2026-02-01", until="2026-01-01")
    assert status == 400 and "must come after its start" in reversed_["detail"]
    status, empty = _refusals(loaded, loaded.analyst, device, since="2026-01-01", until="2026-01-01")
    assert status == 400 and "must come after its start" in empty["detail"]  # until is exclusive
    assert _refusals(loaded, loaded.analyst, device, proven="", cursor="")[0] == 200  # empty: the default
    status, too_long = _refusals(loaded, loaded.analyst, device, since="2020-01-01", until="2026-01-01")
    assert status == 400 and "at most 400 days" in too_long["detail"]
    status, _ = _refusals(loaded, loaded.analyst, device, cursor="not-a-cursor")
    assert status == 400
    # Every name the page sends is documented, and a misspelt one is said, not ignored.
    every = {"since": "2026-12-01", "until": "2026-12-02", "code": "seq_gap", "proven": "1", "limit": "5"}
    assert _refusals(loaded, loaded.analyst, device, lang="kk", **every)[0] == 200
    status, misspelt = _refusals(loaded, loaded.analyst, device, cod="seq_gap")
    assert (status, misspelt["error"]) == (400, "unknown_parameter")


def test_the_shift_check_counts_the_same_refusals_as_the_register_page(loaded: Loaded, device: str) -> None:
    _, register = _refusals(loaded, loaded.retailer_a, device)
    day = local_day(register["items"][0]["received_ms"]).isoformat()
    _, shifts = loaded.get("/v1/reconcile/shifts", loaded.retailer_a, date=day)
    counted = {r["error_code"]: r["count"] for r in shifts["rejections"] if r["device_id"] == device}
    assert counted == _counts(register)


def test_another_retailer_gets_no_such_register(loaded: Loaded, device: str) -> None:
    status, answer = _refusals(loaded, loaded.retailer_b, device)
    assert status == 404 and answer["error"] == "not_found", answer
    # Answered as a register that does not exist is: nothing tells the two apart.
    status, unknown = _refusals(loaded, loaded.retailer_b, "no-such-register")
    assert (status, unknown) == (404, answer) and device not in str(answer) and GOLDEN_TIN not in str(answer)
    _, russian = _refusals(loaded, loaded.retailer_b, device, lang="ru")
    assert russian["detail"] == translate("ru", "error.no_register")
    # Retailer A reads its own registers only, too (B's register has no refusals naming A).
    assert _refusals(loaded, loaded.retailer_a, B_DEVICE)[0] == 404
    # Its own register without a refusal is its own: none counted, not "no such register".
    status, quiet = _refusals(loaded, loaded.retailer_b, B_DEVICE)
    assert status == 200 and quiet["total"] == 0 and quiet["items"] == []


def test_refusals_nobody_proved_are_never_the_sellers(loaded: Loaded, device: str) -> None:
    forged = set(REFUSED_FORGED)
    # Stored under the register's id, without a seller: the forger chose the id.
    rows = loaded.gw.sql(
        f"SELECT error_code, seller_tin FROM tracegate.rejections WHERE device_id = '{device}'"
        " AND error_code IN ('bad_signature', 'unknown_key')"
    )
    assert {r[0] for r in rows} == forged and {r[1] for r in rows} == {""}
    # The retailer: not in the counts, the list or any page of it, and not asked for.
    _, mine = _refusals(loaded, loaded.retailer_a, device)
    assert not forged & set(_counts(mine)) and "unproven" not in mine
    assert not forged & {i["error_code"] for i in _every_item(loaded, loaded.retailer_a, device)}
    for code in forged:
        _, only = _refusals(loaded, loaded.retailer_a, device, code=code)
        assert only["items"] == [] and only["total"] == sum(REFUSED_SIGNED.values())
    status, asked = _refusals(loaded, loaded.retailer_a, device, proven="0", lang="ru")
    assert status == 403 and asked["error"] == "forbidden" and "только сотрудники" in asked["detail"]
    # The analyst: apart, as not proven, one record a request (the detail says how many more it held).
    _, staff = _refusals(loaded, loaded.analyst, device)
    assert _counts(staff) == REFUSED_SIGNED
    assert {c["error_code"]: c["count"] for c in staff["unproven"]["by_code"]} == REFUSED_FORGED
    assert staff["unproven"]["total"] == sum(REFUSED_FORGED.values())
    _, unproven = _refusals(loaded, loaded.analyst, device, proven="0")
    assert unproven["proven"] is False and {i["error_code"] for i in unproven["items"]} == forged
    [bad] = [i for i in unproven["items"] if i["error_code"] == "bad_signature"]
    assert "4 more like it" in bad["detail"]


def test_a_register_whose_every_upload_was_refused_still_shows_why(loaded: Loaded, device: str) -> None:
    # No receipt or report reached the store, so its reports are "none (visible to you)"; its refusals are.
    assert loaded.get(f"/v1/registers/{SILENT_DEVICE}/reports", loaded.retailer_a)[0] == 404
    status, answer = _refusals(loaded, loaded.retailer_a, SILENT_DEVICE)
    assert status == 200 and _counts(answer) == {"seq_gap": 1}
    assert answer["items"][0]["detail"].startswith("expected seq 1, got 2")
    assert _refusals(loaded, loaded.retailer_b, SILENT_DEVICE)[0] == 404

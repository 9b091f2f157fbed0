"""Crafted query input is a 400 with a reason, never a 500 nor a filter that silently filters nothing."""

from __future__ import annotations

import base64
import json

import pytest

from gateway.errors import GatewayError
from gateway.query.anomalies import decode_cursor, encode_cursor
from gateway.query.books import parse_books, parse_money
from gateway.query.local_time import parse_time
from gateway.query.reconcile import parse_date


def _cursor(key: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


@pytest.mark.parametrize("key", [
    [1, "x", -1, 99999999999, "a", "b"],  # a seq below 0, a line past Int32
    [True, "x", 1, 1, "a", "b"],  # a bool where a number goes
    [2**63, "x", 1, 1, "a", "b"],
    [1, "x", 2**64, 1, "a", "b"],
    [1.5, "x", 1, 1, "a", "b"],
    [1, 2, 1, 1, "a", "b"],
    "not a list",
])
def test_a_crafted_cursor_is_refused(key: object) -> None:
    with pytest.raises(GatewayError) as caught:
        decode_cursor(_cursor(key))
    assert caught.value.error.code == "malformed_request"


def test_our_own_cursor_still_works() -> None:
    row = {"detected_ms": 1_790_000_000_000, "device_id": "KKM-1", "seq": 2**64 - 1, "line": 0, "family": "k",
           "cis": ""}
    assert decode_cursor(encode_cursor(row)) == [1_790_000_000_000, "KKM-1", 2**64 - 1, 0, "k", ""]


@pytest.mark.parametrize("text", ["99999999999999999999999999", "99999999999999999999", "10413792000000"])
def test_a_time_past_what_storage_holds_is_refused_not_ignored(text: str) -> None:
    with pytest.raises(GatewayError, match="not between 1970 and 2100"):
        parse_time(text)


def test_times_within_range_parse() -> None:
    assert parse_time("2026-01-15") == 1_768_435_200_000 - 5 * 3_600_000  # local time: UTC+5
    assert parse_time("2026-01-15T00:00Z") == 1_768_435_200_000
    assert parse_time("1768435200000") == 1_768_435_200_000
    assert parse_time("") is None


@pytest.mark.parametrize("total", ["Infinity", "-Infinity", "NaN", "sNaN", "1e30", "9223372036854775808"])
def test_a_books_total_that_is_no_amount_is_refused(total: str) -> None:
    with pytest.raises(ValueError):
        parse_money(total)


@pytest.mark.parametrize(("time", "total"), [
    ("99999999999999999999", "10"), ("1950-01-01", "10"), ("2026-01-15T10:00", "Infinity"),
])
def test_a_books_upload_with_crafted_values_says_which_line(time: str, total: str) -> None:
    text = f"document_number,device_id,time,total\n1,KKM-1,2026-01-15T09:00,5\n2,KKM-1,{time},{total}\n"
    with pytest.raises(GatewayError) as caught:
        parse_books(text)
    assert caught.value.error.code == "books_row_unreadable" and caught.value.detail.startswith("line 3:")


@pytest.mark.parametrize("day", ["9999-12-31", "1969-12-31", "0001-01-01"])
def test_a_day_no_receipt_can_have_is_refused(day: str) -> None:
    with pytest.raises(GatewayError, match="between"):
        parse_date(day)

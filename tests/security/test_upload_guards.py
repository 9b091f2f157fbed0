"""Hostile uploads and JSON bodies against the real gateway: a 400 or 413 with a stable code, never a 500,
never an answer the size of what a small upload inflates to, and the event loop free while a file is read.

Found by an outside test (workbook bombs, DOCTYPEs, a 2 MiB CSV field, 5 000-deep JSON, an expiry of
1e308 days); each test here failed before its fix.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.reliability.gateway_process import GatewayProcess

pytestmark = pytest.mark.clickhouse

STATUSES = "/v1/codes/statuses"
TIN = "080740000019"


@dataclass
class Gateway:
    """The running gateway and a token of each kind the routes need."""

    gw: GatewayProcess
    retailer: str
    analyst: str

    def post(self, path: str, body: bytes, token: str, content_type: str = "text/plain",
             timeout: float = 60) -> tuple[int, bytes]:
        status, _, answer = self.gw.request("POST", path, body, content_type, token, timeout=timeout)
        return status, answer

    def refused(self, path: str, body: bytes, token: str,
                content_type: str = "text/plain") -> tuple[int, str, str]:
        """Status, error code and detail of an answer that must be a refusal."""
        status, answer = self.post(path, body, token, content_type)
        assert status < 500, answer[:300]
        parsed = json.loads(answer)
        return status, parsed["error"], parsed["detail"]


def _issue(gw: GatewayProcess, payload: dict[str, str]) -> str:
    status, answer = gw.admin("POST", "/v1/admin/tokens", payload)
    assert status == 201, answer
    return str(answer["token"])


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = GatewayProcess(tmp_path_factory.mktemp("uploads") / "data")
    gw.start()
    try:
        retailer = _issue(gw, {"scope": "retailer", "seller_tin": TIN})
        yield Gateway(gw, retailer, _issue(gw, {"scope": "analyst"}))
    finally:
        gw.stop()


DEEP = b'{"a":' * 5000 + b"1" + b"}" * 5000


def test_deeply_nested_json_is_a_400_on_every_json_route(gateway: Gateway) -> None:
    admin = gateway.gw.token
    for path, token in (("/v1/anomalies/nope/actions", gateway.analyst), ("/v1/admin/tokens", admin),
                        ("/v1/admin/devices", admin), ("/v1/admin/pii/forget", admin)):
        status, error, detail = gateway.refused(path, DEEP, token, "application/json")
        assert (status, error) == (400, "malformed_request"), (path, detail)
        assert "nested" in detail


def test_numbers_json_has_no_room_for_are_a_400(gateway: Gateway) -> None:
    # NaN and Infinity are Python's, not JSON's (RFC 8259), and 1e400 reads as infinity: refused, not
    # handed to a route as floats that overflow further on.
    for body in (b'{"scope": "analyst", "label": NaN}', b'{"scope": "analyst", "expires_days": Infinity}',
                 b'{"scope": "analyst", "expires_days": 1e400}'):
        status, error, _ = gateway.refused("/v1/admin/tokens", body, gateway.gw.token, "application/json")
        assert (status, error) == (400, "malformed_request"), body


@pytest.mark.parametrize("days", ["1e308", "36501", "-1", "0", "true"])
def test_a_token_expiry_out_of_range_is_a_400_that_says_the_range(gateway: Gateway, days: str) -> None:
    body = f'{{"scope": "analyst", "expires_days": {days}}}'.encode()
    status, error, detail = gateway.refused("/v1/admin/tokens", body, gateway.gw.token, "application/json")
    assert (status, error) == (400, "malformed_request")
    assert "expires_days must be" in detail and "36500" in detail


def test_a_token_expiry_in_range_is_issued(gateway: Gateway) -> None:
    for days in (0.5, 90, 36500):
        payload = {"scope": "analyst", "expires_days": days}
        status, answer = gateway.gw.admin("POST", "/v1/admin/tokens", payload)
        assert status == 201, answer


BOOKS = "/v1/reconcile/books"
BOOKS_HEADER = b"document_number,device_id,time,total\n"


def test_a_csv_field_past_the_csv_readers_limit_is_a_400(gateway: Gateway) -> None:
    huge = b'"' + b"a" * (2 * 1024 * 1024) + b'"\n'
    for path, body in ((STATUSES + "?input=csv", b"code\n" + huge), (BOOKS, BOOKS_HEADER + huge)):
        status, error, detail = gateway.refused(path, body, gateway.retailer, "text/csv")
        assert (status, error) == (400, "malformed_request"), detail
        assert "line 2" in detail and "field larger than field limit" in detail
        assert len(detail) < 200


def test_a_books_csv_the_csv_reader_cannot_split_is_a_400(gateway: Gateway) -> None:
    body = BOOKS_HEADER + b"1,KKM-1,2026-01-15T09:30,10\rx\n"  # a lone CR inside an unquoted field
    status, error, detail = gateway.refused(BOOKS, body, gateway.retailer, "text/csv")
    assert (status, error) == (400, "malformed_request") and "line 2" in detail

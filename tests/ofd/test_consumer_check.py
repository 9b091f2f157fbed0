"""GET /check, the page an OFD receipt's QR code opens: genuine or not, nothing else, rate-limited."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from gateway.errors import GatewayError
from gateway.http.check_routes import setup_check
from gateway.http.errors import setup_errors
from gateway.http.keys import SERVICE, SETTINGS
from gateway.query.consumer_check import parse_query
from gateway.service import GatewayService
from tests.ofd.registers import Register, commodity, ticket
from tests.ofd.stored import shipped


def test_the_link_is_read_back_exactly_and_bad_links_say_what_is_wrong() -> None:
    query = parse_query({"i": "4228143549", "f": "010101012345", "s": "1650.5", "t": "20260921T191320"}, 300)
    assert (query.ticket_number, query.kgd_number, query.total, query.time_ms) == (
        "4228143549", "010101012345", 165_050, 1_790_000_000_000)
    for bad, says in (({"i": "x"}, "i (fiscal number)"), ({"s": "12,5"}, "s must be"),
                      ({"t": "2026-09-21"}, "t must be")):
        good = {"i": "1", "f": "2", "s": "1.00", "t": "20260921T191320"}
        with pytest.raises(GatewayError, match=says.replace("(", r"\(").replace(")", r"\)")):
            parse_query(good | bad, 300)


@pytest.mark.clickhouse
async def test_the_printed_link_opens_a_page_that_says_genuine(
    service: GatewayService, register: Register, aiohttp_client: Any,
) -> None:
    sale = await register.ticket(ticket(time.time_ns() // 10**9 * 1000 - 60_000, [commodity("Tea", 10_000)]))
    link = urlsplit(sale.ticket.qr_code.decode())
    app = web.Application()
    app[SERVICE], app[SETTINGS] = service, service.settings
    setup_errors(app)
    setup_check(app)
    client = await aiohttp_client(app)
    await shipped(service)
    answer = await client.get(f"{link.path}?{link.query}")
    assert answer.status == 200
    assert await answer.json() == {"genuine": True, "reason": "this receipt was registered"}
    page = await client.get(f"{link.path}?{link.query}", headers={"Accept": "text/html"})
    assert "Genuine receipt" in await page.text()
    forged = await client.get(f"{link.path}?{link.query.replace('s=100.00', 's=100.01')}")
    assert (await forged.json())["genuine"] is False
    bad = await client.get("/check?i=1")
    assert bad.status == 400 and (await bad.json())["error"] == "malformed_request"
    statuses = [(await client.get(f"{link.path}?{link.query}")).status for _ in range(60)]
    assert 429 in statuses, "its own rate limit per address (burst 50)"

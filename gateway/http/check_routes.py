"""GET /check: the consumer check an OFD register's printed QR code opens (gateway/query/consumer_check.py).

Open to anyone (a buyer's phone), so it has a rate limit of its own per address, on top of the gateway's:
at 5 a second, guessing one of 9·10⁹ fiscal numbers for a given register, total and time is hopeless.
A browser gets a small page; anything else JSON ({"genuine": …, "reason": …}).
"""

from __future__ import annotations

import html

from aiohttp import web

from gateway.http.client_address import remote_of
from gateway.http.keys import SERVICE, SETTINGS
from gateway.query.consumer_check import CheckQuery, check_receipt, parse_query
from gateway.security.rate_limits import RateLimiter

CHECK_LIMITS = web.AppKey("check_limits", RateLimiter)
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>Receipt check · tracegate</title></head>
<body><main><h1>{verdict}</h1><p>{reason}</p>
<p>Receipt {number} of register {kgd}, total {total}, at {time} (as printed).</p></main></body></html>
"""


def _page(result: dict[str, object], query: CheckQuery, printed: dict[str, str]) -> str:
    verdict = "Genuine receipt" if result["genuine"] else "Not confirmed"
    return _PAGE.format(
        verdict=verdict, reason=html.escape(str(result["reason"])), number=html.escape(query.ticket_number),
        kgd=html.escape(query.kgd_number), total=html.escape(printed.get("s", "")),
        time=html.escape(printed.get("t", "")),
    )


async def get_check(request: web.Request) -> web.Response:
    """Is the receipt of ?i=&f=&s=&t= genuine."""
    request.app[CHECK_LIMITS].check(remote_of(request), "address")
    service = request.app[SERVICE]
    query = parse_query(request.query, service.settings.ofd_utc_offset_min)
    result = await check_receipt(service, query)
    if "text/html" in request.headers.get("Accept", ""):
        return web.Response(text=_page(result, query, dict(request.query)), content_type="text/html")
    return web.json_response(result)


def setup_check(app: web.Application) -> None:
    """Add GET /check and its rate limit."""
    settings = app[SETTINGS]
    app[CHECK_LIMITS] = RateLimiter(settings.check_rate_per_s, settings.check_rate_burst)
    app.router.add_get("/check", get_check)

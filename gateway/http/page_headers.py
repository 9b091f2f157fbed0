"""Headers that keep the pages under /ui/ from being framed, fed foreign scripts or leaking their URLs.

The pages load their own script and style only (no inline script, no third-party origin); the script
builds tables with inline `style` attributes, hence style-src 'unsafe-inline' (styles cannot run code).
Every answer also says nosniff, so a JSON or CSV answer is never taken for a page.
"""

from __future__ import annotations

from aiohttp import web

PAGE_PREFIX = "/ui"
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


async def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if request.path == PAGE_PREFIX or request.path.startswith(PAGE_PREFIX + "/"):
        for name, value in PAGE_HEADERS.items():
            response.headers.setdefault(name, value)


def setup_page_headers(app: web.Application) -> None:
    """Add the headers to every answer as it is sent (pages, their static files, and errors alike)."""
    app.on_response_prepare.append(_add_headers)

"""Serve the pages under /ui/ from the package (no build step, no data embedded server-side).

Each page is sent in the reader's language (the switch's cookie, else Accept-Language): the server
only names it in <html lang>; the page fetches that language's catalogue from /ui/i18n/<lang>.json.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from aiohttp import web

from gateway.i18n import COOKIE, LANGUAGES, catalogue, negotiate

STATIC_DIR = Path(__file__).parent / "static"
PAGES = (
    "login", "dashboard", "trace", "anomalies", "receipts", "receipt", "register", "codes", "reconcile",
    "books", "export",
)


@cache
def _html(name: str) -> str:
    return (STATIC_DIR / f"{name}.html").read_text(encoding="utf-8")


async def index(request: web.Request) -> web.StreamResponse:
    """The pages start at the dashboard (which sends a visitor without a token to the login page)."""
    raise web.HTTPFound("/ui/dashboard")


async def page(request: web.Request) -> web.StreamResponse:
    """One page by name, in the reader's language."""
    name = request.match_info["page"]
    if name not in PAGES:
        raise web.HTTPNotFound()
    lang = negotiate(None, request.cookies.get(COOKIE), request.headers.get("Accept-Language"))
    text = _html(name).replace('<html lang="en">', f'<html lang="{lang}">', 1)
    return web.Response(
        text=text,
        content_type="text/html",
        headers={"Cache-Control": "no-cache", "Content-Language": lang, "Vary": "Cookie, Accept-Language"},
    )


async def messages(request: web.Request) -> web.Response:
    """One language's message catalogue for the pages."""
    lang = request.match_info["lang"]
    if lang not in LANGUAGES:
        raise web.HTTPNotFound()
    return web.json_response(
        catalogue(lang),
        dumps=lambda v: json.dumps(v, ensure_ascii=False),
        headers={"Cache-Control": "no-cache"},
    )


def setup_pages(app: web.Application) -> None:
    """Add /ui (pages), /ui/i18n (catalogues) and /ui/static (their CSS and JS)."""
    app.router.add_get("/ui", index)
    app.router.add_get("/ui/", index)
    app.router.add_get("/ui/i18n/{lang}.json", messages)
    app.router.add_get("/ui/{page}", page)
    app.router.add_static("/ui/static/", STATIC_DIR, append_version=False)

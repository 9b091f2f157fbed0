"""Serve the pages under /ui/ from the package (no build step, no data embedded server-side).

Each page is sent in the reader's language (the switch's cookie, else Accept-Language): the server
only names it in <html lang>; the page fetches that language's catalogue from /ui/i18n/<lang>.json.
"""

from __future__ import annotations

import json
from functools import cache
from html import escape
from pathlib import Path
from string import Template

from aiohttp import web

from gateway.i18n import COOKIE, LANGUAGES, catalogue, negotiate, translate

STATIC_DIR = Path(__file__).parent / "static"
PAGES = (
    "login", "dashboard", "trace", "anomalies", "receipts", "receipt", "register", "codes", "reconcile",
    "books", "export",
)


@cache
def _html(name: str) -> str:
    return (STATIC_DIR / f"{name}.html").read_text(encoding="utf-8")


def _lang(request: web.Request) -> str:
    return negotiate(None, request.cookies.get(COOKIE), request.headers.get("Accept-Language"))


def _not_found(request: web.Request) -> web.Response:
    """A page saying so in the reader's language, with a way home (the API under /v1/ keeps its JSON 404)."""
    lang = _lang(request)
    text = Template(_html("notfound")).substitute(
        lang=lang,
        title=escape(translate(lang, "notfound.title")),
        text=escape(translate(lang, "notfound.text", path=request.path[:200])),
        home=escape(translate(lang, "notfound.home")),
    )
    return web.Response(
        text=text,
        status=404,
        content_type="text/html",
        headers={"Cache-Control": "no-cache", "Content-Language": lang, "Vary": "Cookie, Accept-Language"},
    )


async def not_found(request: web.Request) -> web.StreamResponse:
    """Any other address under /ui/: a page that says it is not there."""
    return _not_found(request)


async def favicon(request: web.Request) -> web.StreamResponse:
    """The icon browsers ask for at /favicon.ico on their own (our pages name the SVG)."""
    return web.FileResponse(STATIC_DIR / "favicon.svg", headers={"Content-Type": "image/svg+xml"})


async def index(request: web.Request) -> web.StreamResponse:
    """The pages start at the dashboard (which sends a visitor without a token to the login page)."""
    raise web.HTTPFound("/ui/dashboard")


async def page(request: web.Request) -> web.StreamResponse:
    """One page by name, in the reader's language."""
    name = request.match_info["page"]
    if name not in PAGES:
        return _not_found(request)
    lang = _lang(request)
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
    """Add /ui (pages), /ui/i18n (catalogues), /ui/static (their CSS, JS, icon) and a not-found page."""
    app.router.add_get("/ui", index)
    app.router.add_get("/ui/", index)
    app.router.add_get("/ui/i18n/{lang}.json", messages)
    app.router.add_get("/ui/{page}", page)
    app.router.add_static("/ui/static/", STATIC_DIR, append_version=False)
    app.router.add_get("/ui/{tail:.+}", not_found)  # after the static files, so it takes only what is left
    app.router.add_get("/favicon.ico", favicon)

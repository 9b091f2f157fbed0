"""Serve the pages under /ui/ from the package (no build step, no data embedded server-side).

Each page is sent in the reader's language (?lang=, which then sticks as the switch's cookie does; else
that cookie; else Accept-Language): the server only names it in <html lang>; the page fetches that
language's catalogue from /ui/i18n/<lang>.json.
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
    """?lang= first (as the API and the docs have it), then the switch's cookie, then Accept-Language."""
    q, headers = request.query, request.headers
    return negotiate(q.get("lang"), request.cookies.get(COOKIE), headers.get("Accept-Language"))


def _asked_lang(request: web.Request) -> str | None:
    """The language ?lang= names, if it names one of ours (it then becomes the switch's choice)."""
    asked = (request.query.get("lang") or "").strip().lower()[:2]
    return asked if asked in LANGUAGES else None


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
    response = web.Response(
        text=text,
        content_type="text/html",
        headers={"Cache-Control": "no-cache", "Content-Language": lang, "Vary": "Cookie, Accept-Language"},
    )
    if _asked_lang(request):
        # The address's choice sticks like the switch's (the same cookie, readable by the pages' script).
        response.set_cookie(COOKIE, lang, path="/", max_age=31_536_000, samesite="Strict")
    return response


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

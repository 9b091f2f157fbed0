"""Serve the pages under /ui/ from the package (no build step, no data embedded server-side)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).parent / "static"
PAGES = ("login", "trace", "anomalies", "dashboard", "reconcile", "books")


def _page(name: str) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / f"{name}.html", headers={"Cache-Control": "no-cache"})


async def index(request: web.Request) -> web.StreamResponse:
    """The pages start at the dashboard (which sends a visitor without a token to the login page)."""
    raise web.HTTPFound("/ui/dashboard")


async def page(request: web.Request) -> web.StreamResponse:
    """One page by name."""
    name = request.match_info["page"]
    if name not in PAGES:
        raise web.HTTPNotFound()
    return _page(name)


def setup_pages(app: web.Application) -> None:
    """Add /ui (pages) and /ui/static (their CSS and JS)."""
    app.router.add_get("/ui", index)
    app.router.add_get("/ui/", index)
    app.router.add_get("/ui/{page}", page)
    app.router.add_static("/ui/static/", STATIC_DIR, append_version=False)

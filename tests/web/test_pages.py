"""The pages' own answers on a bare app: an unknown page address, the icon, and who they are written for."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.http.errors import setup_errors
from gateway.i18n import translate
from gateway.web.pages import PAGES, STATIC_DIR, setup_pages


def _app() -> web.Application:
    app = web.Application()
    setup_errors(app)
    setup_pages(app)
    return app


async def test_an_unknown_page_is_a_page_in_the_readers_language_with_a_way_home(aiohttp_client: Any) -> None:
    client = await aiohttp_client(_app())
    for path in ("/ui/nonexistent", "/ui/receipt/extra/parts"):
        response = await client.get(path, headers={"Cookie": "tracegate_lang=ru"})
        body = await response.text()
        assert response.status == 404 and response.content_type == "text/html", path
        assert '<html lang="ru">' in body and "Страница не найдена" in body and "No such resource" not in body
        assert 'href="/ui/dashboard"' in body
    english = await client.get("/ui/nowhere", headers={"Accept-Language": "en"})
    assert "Page not found" in await english.text()
    # Markup in the address is shown as text.
    hostile = await client.get("/ui/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert "<script>" not in await hostile.text()
    # The API keeps its JSON answer with the stable code.
    api = await client.get("/v1/nowhere")
    assert api.status == 404 and (await api.json())["error"] == "not_found"


async def test_every_page_has_an_icon_and_the_browsers_own_request_finds_one(aiohttp_client: Any) -> None:
    client = await aiohttp_client(_app())
    for name in PAGES:
        html = (STATIC_DIR / f"{name}.html").read_text()
        assert 'rel="icon" href="/ui/static/favicon.svg"' in html, name
    for path in ("/favicon.ico", "/ui/static/favicon.svg"):
        response = await client.get(path)
        assert response.status == 200 and response.content_type == "image/svg+xml", path
        assert (await response.text()).startswith("<svg")


def test_sign_in_help_tells_readers_where_a_token_comes_from_without_commands() -> None:
    for lang in ("en", "ru", "kk"):
        help_text = translate(lang, "login.help")
        assert "`" not in help_text and "tracegate tokens" not in help_text, lang


async def test_lang_in_the_address_comes_first_and_sticks(aiohttp_client: Any) -> None:
    client = await aiohttp_client(_app())
    response = await client.get("/ui/dashboard?lang=kk", headers={"Cookie": "tracegate_lang=ru"})
    body = await response.text()
    assert '<html lang="kk">' in body and response.headers["Content-Language"] == "kk"
    assert response.cookies["tracegate_lang"].value == "kk"  # the next page, without ?lang=, is kk too
    client.session.cookie_jar.clear()  # a reader whose switch says ru, again
    plain = await client.get("/ui/dashboard", headers={"Cookie": "tracegate_lang=ru"})
    assert '<html lang="ru">' in await plain.text() and "tracegate_lang" not in plain.cookies
    unknown = await client.get("/ui/dashboard?lang=de", headers={"Cookie": "tracegate_lang=ru"})
    assert '<html lang="ru">' in await unknown.text() and "tracegate_lang" not in unknown.cookies

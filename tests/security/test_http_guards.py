"""HTTP guards on a bare app: no rate-limit memory for made-up tokens, and the pages' security headers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from gateway.auth.tokens import TokenCache, new_token
from gateway.http.access import TOKENS, require_scope
from gateway.http.errors import setup_errors
from gateway.http.keys import SETTINGS
from gateway.http.limits import TOKEN_LIMITS, setup_limits
from gateway.http.page_headers import CONTENT_SECURITY_POLICY, setup_page_headers
from gateway.http.security_routes import setup_security
from gateway.settings import Settings
from gateway.web.pages import setup_pages


async def whoami(request: web.Request) -> web.Response:
    return web.json_response({"scope": require_scope(request, "analyst").scope})


def _app(tokens: TokenCache, data: Path) -> web.Application:
    app = web.Application()
    # A data directory of the test's own: the PII key ring is made there, not in ./var of the checkout.
    app[SETTINGS] = Settings(data_dir=data, rate_token_per_s=1.0, rate_token_burst=2)
    setup_errors(app)
    setup_limits(app)
    setup_security(app)
    app[TOKENS] = tokens
    app.router.add_get("/v1/whoami", whoami)
    setup_pages(app)
    setup_page_headers(app)
    return app


async def test_made_up_tokens_hold_no_rate_limit_buckets(aiohttp_client: Any, tmp_path: Path) -> None:
    secret, token = new_token("analyst")
    app = _app(TokenCache("admin-secret", [token]), tmp_path)
    client = await aiohttp_client(app)
    for n in range(300):
        made_up = {"Authorization": f"Bearer made-up-{n}-" + "x" * 4000}
        response = await client.get("/v1/whoami", headers=made_up)
        assert response.status == 401
    assert len(app[TOKEN_LIMITS]) == 0
    # A real token has its bucket, and its limit.
    statuses = [(await client.get("/v1/whoami", headers={"Authorization": f"Bearer {secret}"})).status
                for _ in range(4)]
    assert statuses[:2] == [200, 200] and 429 in statuses and len(app[TOKEN_LIMITS]) == 1


async def test_pages_cannot_be_framed_nor_load_foreign_scripts(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await aiohttp_client(_app(TokenCache("admin-secret"), tmp_path))
    for path in ("/ui/dashboard", "/ui/static/app.js", "/ui/nowhere"):
        response = await client.get(path, allow_redirects=False)
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, path
        assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    api = await client.get("/v1/whoami")
    assert api.headers["X-Content-Type-Options"] == "nosniff" and "Content-Security-Policy" not in api.headers

"""Request ids and latency on a bare aiohttp app: ids echoed (errors too), routes labelled by pattern."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from gateway.http.errors import setup_errors
from gateway.http.metrics import METRICS, setup_metrics
from gateway.http.request_ids import setup_request_ids
from gateway.observability.logs import configure_logging

log = logging.getLogger("gateway.test.handler")


async def device_page(request: web.Request) -> web.Response:
    log.info("looking at %s", request.match_info["device_id"])
    return web.json_response({"ok": True})


def _app() -> web.Application:
    app = web.Application()
    setup_errors(app)
    app.router.add_get("/v1/devices/{device_id}", device_page)
    setup_metrics(app)
    setup_request_ids(app)
    return app


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved_handlers:
        root.addHandler(handler)
    root.setLevel(saved_level)


async def test_request_ids_are_echoed_and_logged(aiohttp_client: Any, json_logs: io.StringIO) -> None:
    client = await aiohttp_client(_app())
    kept = await client.get("/v1/devices/KKM-1", headers={"X-Request-Id": "lb-abc.123"})
    assert kept.status == 200 and kept.headers["X-Request-Id"] == "lb-abc.123"
    fresh = await client.get("/v1/devices/KKM-2", headers={"X-Request-Id": "bad id <script>"})
    assert len(fresh.headers["X-Request-Id"]) == 32  # replaced by a fresh uuid
    missing = await client.get("/nowhere")
    assert missing.status == 404 and missing.headers["X-Request-Id"]
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    handler_lines = [line for line in lines if line["logger"] == "gateway.test.handler"]
    assert [(x["message"], x["request_id"]) for x in handler_lines] == [
        ("looking at KKM-1", "lb-abc.123"),
        ("looking at KKM-2", fresh.headers["X-Request-Id"]),
    ]


async def test_latency_is_labelled_by_route_pattern_and_served_at_metrics(aiohttp_client: Any) -> None:
    app = _app()
    client = await aiohttp_client(app)
    for device in ("KKM-1", "KKM-2", "KKM-3"):
        assert (await client.get(f"/v1/devices/{device}")).status == 200
    assert (await client.get("/nowhere")).status == 404
    histogram = app[METRICS].request_seconds
    assert histogram.count(route="/v1/devices/{device_id}", method="GET", status="200") == 3
    assert histogram.count(route="unmatched", method="GET", status="404") == 1
    answer = await client.get("/metrics")
    text = await answer.text()
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert 'tracegate_http_request_duration_seconds_count{route="/v1/devices/{device_id}",method="GET",' \
        'status="200"} 3' in text

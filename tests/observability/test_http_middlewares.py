"""Request ids (echoed on errors too), latency by route pattern and event loop lag, on a bare aiohttp app."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from gateway.http.errors import setup_errors
from gateway.http.metrics import METRICS, setup_metrics, watch_loop_lag
from gateway.http.request_ids import setup_request_ids
from gateway.observability.gateway_metrics import GatewayMetrics
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


async def test_a_blocked_event_loop_shows_in_the_loop_lag() -> None:
    metrics = GatewayMetrics()
    watcher = asyncio.create_task(watch_loop_lag(metrics))
    await asyncio.sleep(0.35)  # a few samples of an idle loop
    idle = metrics.loop_lag.count()
    time.sleep(0.3)  # a handler that blocks the loop, as a CPU-bound stage would
    await asyncio.sleep(0.15)
    watcher.cancel()
    text = metrics.registry.render()
    total = _sample(text, "tracegate_event_loop_lag_seconds_count")
    # Samples of the idle loop are on time; the one the block delayed is late by 0.2-0.3 s.
    assert idle >= 2 and total >= idle + 1
    assert _sample(text, 'tracegate_event_loop_lag_seconds_bucket{le="0.1"}') == total - 1
    assert _sample(text, 'tracegate_event_loop_lag_seconds_bucket{le="0.5"}') == total


def _sample(text: str, name: str) -> float:
    (value,) = [line.rsplit(" ", 1)[1] for line in text.splitlines() if line.startswith(name + " ")]
    return float(value)

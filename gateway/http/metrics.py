"""GET /metrics (Prometheus text), request latency, event loop lag, and the ClickHouse parts count refreshed
off the loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.http.keys import SERVICE
from gateway.observability.code_follow_metrics import CodeFollowMetrics
from gateway.observability.gateway_metrics import GatewayMetrics
from gateway.observability.prometheus import CONTENT_TYPE
from gateway.query.parts import parts_by_table

log = logging.getLogger(__name__)

METRICS = web.AppKey("metrics", GatewayMetrics)
CODE_FOLLOW_METRICS = web.AppKey("code_follow_metrics", CodeFollowMetrics)
_TASKS = web.AppKey("metrics_tasks", list[asyncio.Task[None]])
LOOP_LAG_SAMPLE_S = 0.1

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def latency_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Time every request into the latency histogram, labelled by its route pattern (bounded cardinality)."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        route = request.match_info.route.resource
        name = route.canonical if route is not None else "unmatched"
        request.app[METRICS].request_seconds.observe(
            time.perf_counter() - started, route=name, method=request.method, status=str(status)
        )


async def get_metrics(request: web.Request) -> web.Response:
    """The exposition: stage counters, journal, shipper, ClickHouse parts, latency."""
    service = request.app.get(SERVICE)
    body = request.app[METRICS].render(service)
    follower = service.code_follower if service is not None else None
    if follower is not None:  # a node of a cluster: how far it follows the others' code moves
        body += request.app[CODE_FOLLOW_METRICS].render(follower.stats, time.time_ns() // 1_000_000)
    return web.Response(body=body.encode(), headers={"Content-Type": CONTENT_TYPE})


async def refresh_parts(app: web.Application) -> None:
    """Forever: read system.parts on the storage thread every parts_refresh_s, into the parts gauges."""
    metrics, service = app[METRICS], app[SERVICE]
    while True:
        try:
            rows = await parts_by_table(service.storage, service.settings.cluster)
            metrics.parts.replace_all(({"table": t}, float(n)) for t, n, _ in rows)
            metrics.partition_parts.replace_all(({"table": t}, float(m)) for t, _, m in rows)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # ClickHouse down: the shipper reports it too; keep the last values
            metrics.parts_refresh_errors.inc()
            log.debug("cannot read system.parts: %s", exc)
        await asyncio.sleep(service.settings.parts_refresh_s)


async def watch_loop_lag(metrics: GatewayMetrics) -> None:
    """Forever: sleep LOOP_LAG_SAMPLE_S and record how much later than that the loop woke up."""
    loop = asyncio.get_running_loop()
    while True:
        began = loop.time()
        await asyncio.sleep(LOOP_LAG_SAMPLE_S)
        metrics.loop_lag.observe(max(0.0, loop.time() - began - LOOP_LAG_SAMPLE_S))


async def _stop_tasks(app: web.Application) -> None:
    # on_shutdown runs before the service context closes storage.
    for task in app.get(_TASKS, []):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _observe_batches(app: web.Application) -> None:
    metrics = app[METRICS]
    app[SERVICE].shipper.batch_observers.append(lambda n: metrics.shipper_batch_records.observe(n))


async def _start(app: web.Application) -> None:
    if SERVICE not in app:
        return  # an app without the gateway service (tests of the HTTP layer alone)
    _observe_batches(app)
    # on_startup runs after every cleanup_ctx started, so the service exists here.
    app[_TASKS] = [
        asyncio.create_task(refresh_parts(app), name="parts-refresh"),
        asyncio.create_task(watch_loop_lag(app[METRICS]), name="loop-lag"),
    ]


def setup_metrics(app: web.Application) -> None:
    """Add /metrics, the latency middleware (outermost but for request ids), the parts refresher and the
    event loop lag watcher."""
    app[METRICS] = GatewayMetrics()
    app[CODE_FOLLOW_METRICS] = CodeFollowMetrics()
    app.middlewares.insert(0, latency_middleware)
    app.router.add_get("/metrics", get_metrics)
    app.on_startup.append(_start)
    app.on_shutdown.append(_stop_tasks)

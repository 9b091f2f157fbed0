"""The aiohttp application factory: a list of setup calls; the service starts and stops with the app."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from gateway.http.access import setup_access
from gateway.http.admin import setup_admin
from gateway.http.analyst_routes import openapi_document, setup_analyst_routes
from gateway.http.audit_trail import setup_audit_trail
from gateway.http.check_routes import setup_check
from gateway.http.codes_routes import setup_code_check
from gateway.http.errors import setup_errors
from gateway.http.export_routes import setup_export_routes
from gateway.http.health import setup_health
from gateway.http.ingest_routes import setup_ingest_routes
from gateway.http.keys import SERVICE, SETTINGS
from gateway.http.limits import setup_limits
from gateway.http.metrics import METRICS, setup_metrics
from gateway.http.page_headers import setup_page_headers
from gateway.http.query_values import setup_query_names
from gateway.http.receipt_routes import setup_receipt_routes
from gateway.http.request_ids import setup_request_ids
from gateway.http.security_routes import setup_security
from gateway.http.token_routes import setup_token_routes
from gateway.ofd.server import OfdFrontDoor, OfdMetrics
from gateway.service import GatewayService
from gateway.settings import Settings
from gateway.web.pages import setup_pages

OFD_DOOR = web.AppKey("ofd_door", OfdFrontDoor)


async def _service_context(app: web.Application) -> AsyncIterator[None]:
    service = await GatewayService.start(app[SETTINGS])
    app[SERVICE] = service
    yield
    await service.stop()


async def _ofd_front_door(app: web.Application) -> AsyncIterator[None]:
    """The OFD front door beside the HTTP API, when ofd_port is set; stopped before the service stops."""
    settings, service = app[SETTINGS], app[SERVICE]
    if not settings.ofd_port:
        yield
        return
    door = OfdFrontDoor(settings, service.ofd_handler, OfdMetrics(app[METRICS].registry))
    await door.start()
    app[OFD_DOOR] = door
    yield
    await door.stop()


def create_app(settings: Settings) -> web.Application:
    """The gateway's web application; the service starts with the app and stops with it."""
    app = web.Application(
        client_max_size=settings.limits.max_body_bytes + 1,
        # Request line and each header are bounded, so a slow or huge header cannot tie up a worker.
        handler_args={
            "max_line_size": settings.max_header_bytes,
            "max_field_size": settings.max_header_bytes,
        },
    )
    app[SETTINGS] = settings
    setup_errors(app)
    setup_limits(app)
    setup_security(app)
    setup_audit_trail(app)
    setup_health(app)
    setup_ingest_routes(app)
    setup_admin(app)
    setup_code_check(app)
    setup_check(app)
    setup_access(app)
    setup_token_routes(app)
    setup_analyst_routes(app)
    setup_export_routes(app)
    setup_receipt_routes(app)
    setup_query_names(app, openapi_document())
    setup_pages(app)
    setup_page_headers(app)
    setup_metrics(app)
    setup_request_ids(app)  # last: its middleware goes outermost, so every answer and log line has the id
    app.cleanup_ctx.append(_service_context)
    app.cleanup_ctx.append(_ofd_front_door)  # after the service: it stops first
    return app

"""`tracegate serve`: run the gateway (ingest, journal, shipper, admin API) on one node."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from typing import Any

from aiohttp import web

from gateway.cli.config import redact_url
from gateway.cli.main import add_common_options, settings_from_args
from gateway.http.app import OFD_DOOR, create_app
from gateway.http.keys import SERVICE
from gateway.observability.logs import configure_logging
from gateway.security.transport import server_ssl_context
from gateway.service import running_gateway_url


def register(sub: Any) -> None:
    """Add the serve subcommand."""
    parser = sub.add_parser(
        "serve",
        help="run the gateway",
        description="Run the gateway: registers POST signed batches to /v1/batches; accepted events are "
        "journalled (fsync) before the ack and shipped to ClickHouse. On first start the schema is created "
        "and an admin token is written to <data>/admin.token and printed once.",
    )
    add_common_options(parser)
    parser.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port to listen on (default 8080)")
    parser.add_argument(
        "--log-level", default=None, help="DEBUG, INFO, WARNING (default INFO, env TRACEGATE_LOG_LEVEL)"
    )
    parser.add_argument(
        "--log-format", default=None, choices=("json", "text"),
        help="json: one JSON object per line with request ids (default); text: for a terminal "
        "(env TRACEGATE_LOG_FORMAT)",
    )
    parser.add_argument("--tls-cert", default=None, help="PEM certificate (chain): serve HTTPS")
    parser.add_argument("--tls-key", default=None, help="PEM private key of --tls-cert")
    parser.add_argument(
        "--tls-client-ca",
        default=None,
        help="PEM CA: device endpoints require a client certificate it signed",
    )
    parser.add_argument(
        "--ofd-port", type=int, default=None,
        help="also listen for registers speaking OFD 2.0.2/2.0.3 (TCP) on this port (default off, env "
        "TRACEGATE_OFD_PORT; limits and TLS: TRACEGATE_OFD_*)",
    )
    parser.add_argument(
        "--ofd-host", default=None, help="address of the OFD front door (default: that of --host)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    # Every file the gateway and its storage process make (journal, ClickHouse parts, keys) is its own.
    os.umask(0o077)
    settings = settings_from_args(args)
    flags = {
        "tls_cert_file": args.tls_cert,
        "tls_key_file": args.tls_key,
        "tls_client_ca_file": args.tls_client_ca,
        "ofd_host": args.ofd_host,
        "ofd_port": args.ofd_port,
    }
    settings = dataclasses.replace(settings, **{k: v for k, v in flags.items() if v is not None})
    ssl_context = server_ssl_context(settings)
    configure_logging(settings.log_level, settings.log_format)
    other = running_gateway_url(settings) if settings.embedded else None
    if other:
        print(f"tracegate: a gateway already serves {settings.data_dir} at {other}", file=sys.stderr)
        return 1
    url = f"{'https' if ssl_context else 'http'}://{settings.host}:{settings.port}"
    app = create_app(settings)

    async def announce(app: web.Application) -> None:
        service = app[SERVICE]
        door = app.get(OFD_DOOR)
        ofd = [f"{host}:{port}" for host, port in door.addresses] if door else []
        service.write_runtime_file(url, ofd)
        if service.new_admin_token:
            print(f"admin token (shown once; also in {settings.admin_token_file}): {service.new_admin_token}")
        print(
            f"tracegate gateway serving {url} "
            + (f"and OFD on {', '.join(ofd)} " if ofd else "")
            + f"(data {settings.data_dir}, storage {redact_url(settings.resolved_storage_url)})",
            flush=True,
        )

    app.on_startup.append(announce)
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        print=None,
        handle_signals=True,
        ssl_context=ssl_context,
        keepalive_timeout=settings.keepalive_timeout_s,
    )
    return 0

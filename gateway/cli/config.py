"""`tracegate config`: print the settings in effect (flags > env > TOML file > defaults), secrets redacted."""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gateway.cli.main import add_common_options, settings_from_args
from gateway.settings import Settings

REDACTED = "***"
# Settings whose value is key material or a credential (names of files holding them are not secret).
_SECRET_NAME = re.compile(r"(password|secret|token|keys?)$")


def redact_url(url: str) -> str:
    """The URL with its password (if any) replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""
    return urlunsplit(parts._replace(netloc=f"{user}:{REDACTED}@{host}{port}"))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    # JSON string escapes are valid TOML basic-string escapes.
    return json.dumps(str(value), ensure_ascii=False)


def render_settings(settings: Settings) -> str:
    """The settings as a TOML document (loadable with --config), with secrets redacted."""
    values = asdict(settings)
    limits = values.pop("limits")
    values["storage_url"] = redact_url(settings.storage_url)
    for name, value in values.items():
        if _SECRET_NAME.search(name) and value:
            values[name] = REDACTED
    lines = [f"{name} = {_toml_value(str(v) if isinstance(v, Path) else v)}" for name, v in values.items()]
    lines += ["", "[limits]"]
    lines += [f"{name} = {_toml_value(v)}" for name, v in limits.items()]
    return "\n".join(lines) + "\n"


def register(sub: Any) -> None:
    """Add the config subcommand."""
    parser = sub.add_parser(
        "config",
        help="print the settings in effect (secrets redacted)",
        description="Print the settings this command line, the TRACEGATE_* environment and the TOML file "
        "(--config or TRACEGATE_CONFIG) add up to, as TOML. Precedence: flags, then environment, then the "
        "file, then defaults. Passwords in URLs are printed as ***.",
    )
    add_common_options(parser)
    parser.add_argument("--cluster", default=None, metavar="NAME", help="ClickHouse cluster name")
    # The flags of `tracegate serve` that are settings, so an operator sees what that command line gives.
    parser.add_argument("--host", default=None, help="address to listen on")
    parser.add_argument("--port", type=int, default=None, help="port to listen on")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING")
    parser.add_argument("--log-format", default=None, choices=("json", "text"), help="log line format")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the settings."""
    print(render_settings(settings_from_args(args)), end="")
    return 0

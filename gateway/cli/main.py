"""Entry point of the `tracegate` command: builds the parser from the subcommand modules and runs one."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.settings import Settings

# Each module registers its subcommand(s) and sets `func` on its parser; the order is the --help order.
SUBCOMMAND_MODULES = (
    "gateway.cli.serve",
    "gateway.cli.migrate",
    "gateway.cli.devices",
    "gateway.cli.sql",
    "gateway.cli.sim",
    "gateway.cli.demo",
    "gateway.cli.codes",
    "gateway.cli.codes_import",
    "gateway.cli.codes_bench_check",
    "gateway.cli.tokens",
    "gateway.cli.analyst",
    "gateway.cli.bench",
    "gateway.cli.config",
    "gateway.cli.security",
    "gateway.cli.quarantine",
    "gateway.cli.export",
)
# The one module that registers each command (its first one or two words), so a run imports only what
# its command needs: importing every module costs about a second (aiohttp, numpy, chDB's client), more
# than `codes validate` needs for 100,000 codes. Anything not listed here (`--help`, a typo, an option
# before the command) builds the full parser; a test checks the table against what the modules register.
COMMAND_MODULES = {
    "serve": "gateway.cli.serve",
    "migrate": "gateway.cli.migrate",
    "devices": "gateway.cli.devices",
    "sql": "gateway.cli.sql",
    "sim": "gateway.cli.sim",
    "demo": "gateway.cli.demo",
    "codes validate": "gateway.cli.codes",
    "codes bench": "gateway.cli.codes",
    "codes import": "gateway.cli.codes_import",
    "codes bench-check": "gateway.cli.codes_bench_check",
    "tokens": "gateway.cli.tokens",
    "trace": "gateway.cli.analyst",
    "anomalies": "gateway.cli.analyst",
    "reconcile": "gateway.cli.analyst",
    "bench": "gateway.cli.bench",
    "config": "gateway.cli.config",
    "audit": "gateway.cli.security",
    "pii": "gateway.cli.security",
    "quarantine": "gateway.cli.quarantine",
    "export": "gateway.cli.export",
    "export-bench": "gateway.cli.export",
    "verify": "gateway.cli.export",
}


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """--data and --storage-url, shared by every subcommand that touches storage."""
    parser.add_argument(
        "--data", dest="data_dir", default=None,
        help="data directory: journal, tokens and the embedded chDB (default ./var, env TRACEGATE_DATA)",
    )
    parser.add_argument(
        "--storage-url", default=None,
        help="chdb:///path (embedded, default <data>/clickhouse) or http(s)://user:pass@host:8123/db "
        "(env TRACEGATE_STORAGE_URL)",
    )
    parser.add_argument(
        "--config", dest="config_file", default=None,
        help="TOML file of settings (env TRACEGATE_CONFIG); flags win over the environment, which wins "
        "over the file",
    )


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings from the environment, overridden by whichever common flags this subcommand has."""
    # Imported here, not at the top: commands without settings (`codes validate`) start without it.
    from gateway.settings import load_settings

    names = ("data_dir", "storage_url", "host", "port", "cluster", "log_format", "log_level")
    config_file = getattr(args, "config_file", None)
    return load_settings(
        {name: getattr(args, name, None) for name in names},
        config_file=Path(config_file) if config_file else None,
    )


def modules_for(argv: Sequence[str]) -> tuple[str, ...]:
    """The modules whose commands the parser for argv needs: the command's own, else all of them."""
    for words in (argv[:2], argv[:1]):
        module = COMMAND_MODULES.get(" ".join(words))
        if module is not None:
            return (module,)
    return SUBCOMMAND_MODULES


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser for argv: only its command's subparser when known, every command otherwise."""
    parser = argparse.ArgumentParser(
        prog="tracegate",
        description="Cash-register traceability gateway: ingest signed receipt events from registers, "
        "journal them durably, stream them to ClickHouse.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES if argv is None else modules_for(argv):
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; returns the process exit code."""
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    result = args.func(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())

"""Entry point of the `tracegate` command: builds the parser from the subcommand modules and runs one."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway.settings import Settings, load_settings

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
    names = ("data_dir", "storage_url", "host", "port", "cluster", "log_format", "log_level")
    config_file = getattr(args, "config_file", None)
    return load_settings(
        {name: getattr(args, name, None) for name in names},
        config_file=Path(config_file) if config_file else None,
    )


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser."""
    parser = argparse.ArgumentParser(
        prog="tracegate",
        description="Cash-register traceability gateway: ingest signed receipt events from registers, "
        "journal them durably, stream them to ClickHouse.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    result = args.func(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())

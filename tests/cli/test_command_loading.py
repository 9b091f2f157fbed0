"""`tracegate` imports only the module of the command it runs, and that parser is the full parser's."""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys

import pytest

from gateway.cli.main import COMMAND_MODULES, SUBCOMMAND_MODULES, build_parser, main, modules_for


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Command path ('serve', 'codes validate') → its parser; `codes` is a group of commands."""
    top = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    found: dict[str, argparse.ArgumentParser] = {}
    for name, sub in top.items():
        if name == "codes":
            for inner, leaf in sub._subparsers._group_actions[0].choices.items():
                found[f"codes {inner}"] = leaf
        else:
            found[name] = sub
    return found


def test_the_table_names_the_module_of_every_command() -> None:
    registered: dict[str, str] = {}
    for module in SUBCOMMAND_MODULES:
        parser = argparse.ArgumentParser()
        importlib.import_module(module).register(parser.add_subparsers())
        registered.update(dict.fromkeys(_commands(parser), module))
    assert registered == COMMAND_MODULES


@pytest.mark.parametrize("command", list(COMMAND_MODULES))
def test_each_command_parses_as_in_the_full_parser(command: str) -> None:
    words = command.split()
    lazy = _commands(build_parser(words))
    module = COMMAND_MODULES[command]
    assert set(lazy) == {other for other, its in COMMAND_MODULES.items() if its == module}
    assert lazy[command].format_help() == _commands(build_parser())[command].format_help()


def test_help_and_unknown_commands_get_the_full_parser() -> None:
    assert modules_for([]) == modules_for(["--help"]) == modules_for(["nonsense"]) == SUBCOMMAND_MODULES
    assert modules_for(["codes"]) == SUBCOMMAND_MODULES  # `codes --help` lists validate, import …
    assert modules_for(["codes", "validate", "--input-format", "json"]) == ("gateway.cli.codes",)
    assert modules_for(["devices", "add"]) == ("gateway.cli.devices",)


def test_top_level_help_still_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    listed = capsys.readouterr().out
    assert all(command.split()[0] in listed for command in COMMAND_MODULES)


def test_codes_validate_starts_without_the_gateway() -> None:
    probe = (
        "import json, sys; from gateway.cli.main import main; main(['codes', 'validate']); "
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)"
    )
    proc = subprocess.run([sys.executable, "-c", probe], input=b"", capture_output=True, check=True)
    loaded = json.loads(proc.stderr.decode().strip().splitlines()[-1])
    heavy = ("aiohttp", "numpy", "chdb", "clickhouse_connect", "gateway.http", "gateway.settings",
             "gateway.storage", "gateway.cli.serve", "gateway.cli.codes_import")
    assert [name for name in loaded if name.startswith(heavy)] == []
    assert "gateway.cli.codes" in loaded

"""Shared test set-up: tests that touch ClickHouse must say so with the `clickhouse` marker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import clickhouse_connect
import pytest


@pytest.fixture(autouse=True)
def _block_clickhouse_in_unit_tests(request: pytest.FixtureRequest) -> Iterator[None]:
    """Unit tests stay unit tests: opening a ClickHouse client without the marker fails the test."""
    if request.node.get_closest_marker("clickhouse"):
        yield
        return
    original = clickhouse_connect.get_client

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("this test touches ClickHouse: mark it @pytest.mark.clickhouse")

    clickhouse_connect.get_client = refuse
    try:
        yield
    finally:
        clickhouse_connect.get_client = original


SCOPES = ("session", "package", "module")  # the widest first


def _shared_fixture(item: pytest.Item) -> str | None:
    """The widest-scoped module/package/session fixture of ours the test uses (its set-up is paid once per
    process that runs a test needing it), or None."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return None
    shared = [
        (SCOPES.index(definition.scope), f"{definition.baseid}::{name}")
        for name in info.names_closure
        for definition in info.name2fixturedefs.get(name, ())
        if definition.scope in SCOPES and definition.baseid.startswith("tests")
    ]
    return min(shared)[1] if shared else None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """For `make test` (xdist, --dist loadgroup): tests sharing a costly fixture go to one worker, which
    sets it up once; the slow end-to-end tests are handed out first, so none starts last and runs alone."""
    for item in items:
        shared = _shared_fixture(item)
        if shared is not None:
            item.add_marker(pytest.mark.xdist_group(shared))
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)

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

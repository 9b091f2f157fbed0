"""Structured logs: one JSON object per line with the request id of the request that logged it."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from gateway.observability.logs import REQUEST_ID, configure_logging


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
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


def test_each_record_is_one_json_line_with_the_request_id(captured: io.StringIO) -> None:
    token = REQUEST_ID.set("req-42")
    try:
        logging.getLogger("gateway.test").info("batch of %d\nenvelopes", 3)
    finally:
        REQUEST_ID.reset(token)
    logging.getLogger("gateway.test").debug("not at INFO")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("gateway.test").exception("failed")
    lines = captured.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "batch of 3\nenvelopes" and first["request_id"] == "req-42"
    assert first["level"] == "INFO" and first["logger"] == "gateway.test"
    assert first["time"].endswith("+00:00")
    assert second["request_id"] is None and "RuntimeError: boom" in second["exception"]


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError):
        configure_logging("INFO", "xml")

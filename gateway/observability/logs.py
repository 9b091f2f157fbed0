"""Structured logs: one JSON object per line (time, level, logger, message, request_id), or plain text."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TextIO

from aiohttp.http_exceptions import HttpProcessingError

# Set by the request-id middleware; asyncio copies it into tasks and to_thread calls a request starts.
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)


# Made once: json.dumps with any option builds a new encoder on every call (at INFO, every request's
# access log line comes through here).
_ENCODE = json.JSONEncoder(ensure_ascii=False).encode


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        """time (UTC, ms), level, logger, message, request_id, and the exception if any."""
        out: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or REQUEST_ID.get(),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return _ENCODE(out)


class TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal, with the request id when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The usual line, suffixed with [request id]."""
        line = super().format(record)
        request_id = REQUEST_ID.get()
        return f"{line} [{request_id}]" if request_id else line


class MalformedHttpFilter(logging.Filter):
    """aiohttp logs a request it cannot parse (a bad Content-Length, a request line over the limit, …) as
    an error with a traceback: anyone could fill the log with them. Said once a second at most, as one
    warning line without the traceback or the bytes sent; how many were left unsaid goes with the next."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._clock, self._last, self._unsaid = clock, float("-inf"), 0

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep other records; a malformed request's becomes a warning (or nothing, within the second)."""
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, HttpProcessingError):
            return True
        now = self._clock()
        if now - self._last < 1.0:
            self._unsaid += 1
            return False
        more = f" (and {self._unsaid} more since the last one said)" if self._unsaid else ""
        self._last, self._unsaid = now, 0
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.msg, record.args = f"malformed HTTP request refused: {type(error).__name__}{more}", ()
        record.exc_info = record.exc_text = None
        return True


def configure_logging(level: str = "INFO", fmt: str = "json", stream: TextIO | None = None) -> None:
    """Send every log record to stream (stderr) in the chosen format; replaces earlier handlers."""
    if fmt not in ("json", "text"):
        raise ValueError(f"log format must be json or text, not {fmt!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    server = logging.getLogger("aiohttp.server")
    for old_filter in [f for f in server.filters if isinstance(f, MalformedHttpFilter)]:
        server.removeFilter(old_filter)
    server.addFilter(MalformedHttpFilter())

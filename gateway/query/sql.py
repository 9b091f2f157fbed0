"""Read-only SQL for operators and analysts: one query, bounded rows and time, JSON-safe values."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import ipaddress
import uuid
from functools import partial
from typing import Any

from gateway.storage.client import Storage

MAX_ROWS = 10_000
# In this order: once readonly=1 is set, no setting can change any more (a session made with these keeps
# them for its whole life, whatever the operator types).
READONLY_SETTINGS = {
    "max_execution_time": 60,
    "max_result_rows": MAX_ROWS,
    "result_overflow_mode": "break",
    "readonly": 1,
}


def json_value(value: Any) -> Any:
    """A ClickHouse value as something json.dumps can write (bytes that are not UTF-8 become base64)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(value).decode()
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID | ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    return str(value)


def run_readonly(client: Any, query: str, *, session_readonly: bool = False) -> dict[str, Any]:
    """Run one read-only query; {"columns": [...], "rows": [[...], ...]} (at most MAX_ROWS rows).

    session_readonly: the client's session was opened with READONLY_SETTINGS (gateway.storage.client.
    readonly_query), so the query carries none; otherwise every request carries them.
    """
    result = client.query(query, settings=None if session_readonly else READONLY_SETTINGS)
    return {
        "columns": list(result.column_names),
        # "break" stops at a block boundary, past MAX_ROWS: the promise is MAX_ROWS.
        "rows": [[json_value(v) for v in row] for row in result.result_rows[:MAX_ROWS]],
    }


async def readonly_query(storage: Storage, query: str) -> dict[str, Any]:
    """Run an operator's query (tracegate sql) in a read-only session of its own: whatever the text, the
    session that ships and serves pages is never touched (gateway.storage.client.in_own_session)."""
    return await storage.run_in_own_session(READONLY_SETTINGS, _readonly_in_session(query))


def readonly_query_sync(storage: Storage, query: str) -> dict[str, Any]:
    """readonly_query, blocking (the CLI on a data directory no gateway serves)."""
    return storage.run_in_own_session_sync(READONLY_SETTINGS, _readonly_in_session(query))


def _readonly_in_session(query: str) -> partial[dict[str, Any]]:
    # A partial of a module-level function: it is sent to the storage process.
    return partial(run_readonly, query=query, session_readonly=True)

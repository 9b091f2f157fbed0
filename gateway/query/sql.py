"""Read-only SQL for operators and analysts: one query, bounded rows and time, JSON-safe values."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import ipaddress
import uuid
from typing import Any

MAX_ROWS = 10_000
_READONLY_SETTINGS = {
    "readonly": 1,
    "max_execution_time": 60,
    "max_result_rows": MAX_ROWS,
    "result_overflow_mode": "break",
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


def run_readonly(client: Any, query: str) -> dict[str, Any]:
    """Run one read-only query; {"columns": [...], "rows": [[...], ...]} (at most MAX_ROWS rows)."""
    result = client.query(query, settings=_READONLY_SETTINGS)
    return {
        "columns": list(result.column_names),
        "rows": [[json_value(v) for v in row] for row in result.result_rows],
    }

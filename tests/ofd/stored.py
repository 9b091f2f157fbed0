"""Reading back what a running gateway stored: wait for the shipper, then ask ClickHouse."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from gateway.service import GatewayService


async def shipped(service: GatewayService, timeout_s: float = 20.0) -> None:
    """Wait until every journal record is in ClickHouse."""
    deadline = time.monotonic() + timeout_s
    while service.journal.unshipped_bytes() > 0:
        assert time.monotonic() < deadline, f"not shipped in {timeout_s} s: {service.shipper.stats()}"
        await asyncio.sleep(0.02)


async def rows(
    service: GatewayService, sql: str, binary: tuple[str, ...] = (), **parameters: Any
) -> list[tuple[Any, ...]]:
    """The rows of a query, {db} standing for the gateway's database, once everything is shipped; the
    `binary` columns as bytes."""
    await shipped(service)
    text = sql.replace("{db}", service.storage.database)
    formats = dict.fromkeys(binary, "bytes")
    result = await service.storage.run(
        lambda c: c.query(text, parameters=parameters, column_formats=formats).result_rows
    )
    return [tuple(row) for row in result]

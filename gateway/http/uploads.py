"""Uploaded files (codes lists, books, registry import chunks) are read, and the files answered for them
written, off the loop.

Reading a workbook takes openpyxl seconds (a 200 000-row books file about 12 s), writing 10 000 code
statuses as CSV half a second; on the event loop that stalled every request and the OFD door meanwhile
(health checks took 9.5 s under three uploads). The work runs in two threads of its own, not asyncio's
default executor: the shipper reads the journal through that one, and uploads queued there would hold
shipping up. Two at most, so uploads never take every core from ingest; more wait their turn.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_WORKERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="tg-upload")


async def upload_work(work: Callable[[], T]) -> T:
    """work() (reading an upload, writing its answer's file) run in an upload thread, in the request's
    context (the request id of every log line, as asyncio.to_thread keeps it)."""
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(_WORKERS, context.run, work)

"""Storage: one dedicated thread owns the clickhouse-connect client (chDB allows one engine per process)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

import clickhouse_connect
from clickhouse_connect.driver.exceptions import OperationalError

from gateway.settings import Settings

T = TypeVar("T")
Client = Any  # clickhouse_connect's Client (untyped library)


def database_of(url: str, default: str) -> str:
    """The database a storage URL names (http(s)://host:8123/<db>), or default (always for chdb://)."""
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https"):
        name = unquote(parsed.path.lstrip("/").split("/")[0])
        if name:
            return name
    return default


class Storage:
    """Every storage call runs on one thread: chDB has no async client and must never block the event loop."""

    def __init__(self, url: str, database: str) -> None:
        self.url = url
        self.database = database
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="storage")
        self._thread_id: int | None = None
        self._client: Client = None
        self.fault_file: Path | None = None  # testing aid (docs/reliability.md); None in production

    @classmethod
    def open(cls, settings: Settings) -> Storage:
        """Connect on the storage thread (errors surface here) and return the handle."""
        if settings.embedded:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        url = settings.resolved_storage_url
        storage = cls(url, database_of(url, settings.database))
        if settings.fault_injection_file:
            storage.fault_file = Path(settings.fault_injection_file)
        try:
            storage._executor.submit(storage._connect).result()
        except BaseException:
            storage._executor.shutdown(wait=False)
            raise
        return storage

    def _connect(self) -> None:
        self._thread_id = threading.get_ident()
        # Looked up on the module each time so tests can block it for unit tests.
        if self.url.startswith("chdb://"):
            self._client = clickhouse_connect.get_client(dsn=self.url)
        else:
            # Every statement names its database; connecting to `default` lets migrations create ours.
            self._client = clickhouse_connect.get_client(dsn=self.url, database="default")

    def _call(self, fn: Callable[[Client], T]) -> T:
        fault = self._injected_fault()
        if fault == "storage_down":
            raise OperationalError("injected fault: storage_down (ClickHouse unreachable)")
        result = fn(self._client)
        if fault == "storage_lost_reply":
            # The call ran (an insert landed) but its answer is lost: what dedup tokens exist for.
            raise OperationalError("injected fault: storage_lost_reply (answer lost after the call ran)")
        return result

    def _injected_fault(self) -> str:
        """The fault the fault-injection file asks for ('' when not configured or absent)."""
        if self.fault_file is None:
            return ""
        try:
            return self.fault_file.read_text().strip()
        except OSError:
            return ""

    async def run(self, fn: Callable[[Client], T]) -> T:
        """Run fn(client) on the storage thread and await its result."""
        return await asyncio.wrap_future(self._executor.submit(self._call, fn))

    def run_sync(self, fn: Callable[[Client], T]) -> T:
        """Run fn(client) on the storage thread and block for its result (CLI, start-up)."""
        if threading.get_ident() == self._thread_id:
            return fn(self._client)  # already on the storage thread: waiting on it would deadlock
        return self._executor.submit(self._call, fn).result()

    def close(self) -> None:
        """Close the client and stop the thread (after calls already queued)."""

        def disconnect() -> None:
            if self._client is not None:
                self._client.close()
                self._client = None

        try:
            self._executor.submit(disconnect).result()
        except RuntimeError:
            return  # closed already
        self._executor.shutdown(wait=True)

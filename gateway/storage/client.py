"""Storage: one dedicated thread owns the clickhouse-connect client (chDB allows one engine per process)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

import clickhouse_connect

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

    @classmethod
    def open(cls, settings: Settings) -> Storage:
        """Connect on the storage thread (errors surface here) and return the handle."""
        if settings.embedded:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        url = settings.resolved_storage_url
        storage = cls(url, database_of(url, settings.database))
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
        return fn(self._client)

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

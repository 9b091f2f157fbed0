"""Storage: one dedicated thread owns the clickhouse-connect client (chDB allows one engine per process).

The client is either in this process or, for the gateway on a machine with a second core, in a storage
process of its own (gateway/storage/process.py) that also builds the shipper's rows.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

import clickhouse_connect
from clickhouse_connect.driver.exceptions import OperationalError

from gateway.security.pii_keys import PiiKeyRing
from gateway.settings import Settings
from gateway.storage.process import StorageProcess
from gateway.storage.staged_rows import schema_file
from gateway.storage.writer import InsertCounts, build_tables, insert_missing, insert_tables

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


def connect(url: str, settings: dict[str, Any] | None = None) -> Client:
    """A clickhouse-connect client for a storage URL (chdb:// or http(s)://); settings: of its session."""
    if url.startswith("chdb://"):
        return clickhouse_connect.get_client(dsn=url, settings=settings)
    # Every statement names its database; connecting to `default` lets migrations create ours.
    return clickhouse_connect.get_client(dsn=url, database="default", settings=settings)


def in_own_session(url: str, settings: dict[str, Any], fn: Callable[[Client], T]) -> T:
    """fn(client) on a connection of its own, opened with these session settings and closed after.

    chDB keeps settings per connection and the client applies a query's settings with SET around it: a
    statement that fails between those SETs (an INSERT under readonly=1) leaves them in the session. On
    the shipper's connection that froze storage; here it dies with the connection.
    """
    session = connect(url, settings)
    try:
        return fn(session)
    finally:
        session.close()


class RemoteClient:
    """The client calls the gateway makes, forwarded to the storage process."""

    def __init__(self, process: StorageProcess) -> None:
        self._process = process

    def query(self, *args: Any, **kwargs: Any) -> Any:
        """client.query there; the result has result_rows and column_names."""
        return self._process.call("query", *args, **kwargs)

    def query_arrow(self, *args: Any, **kwargs: Any) -> Any:
        """client.query_arrow there (an Arrow table pickles as it is)."""
        return self._process.call("query_arrow", *args, **kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Any:
        """client.command there."""
        return self._process.call("command", *args, **kwargs)

    def insert(self, *args: Any, **kwargs: Any) -> Any:
        """client.insert there."""
        return self._process.call("insert", *args, **kwargs)

    def close(self) -> None:
        """Stop the storage process (it closes its client)."""
        self._process.close()


class Storage:
    """Every storage call runs on one thread: chDB has no async client and must never block the event loop."""

    def __init__(self, url: str, database: str) -> None:
        self.url = url
        self.database = database
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="storage")
        self._thread_id: int | None = None
        self._client: Client = None
        self._process: StorageProcess | None = None
        self.fault_file: Path | None = None  # testing aid (docs/reliability.md); None in production

    @classmethod
    def open(cls, settings: Settings, *, own_process: bool = False) -> Storage:
        """Connect on the storage thread (errors surface here) and return the handle.

        own_process: the client lives in a storage process of its own (the gateway's choice,
        settings.storage_process); the CLI keeps it in its own process.
        """
        if settings.embedded:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        url = settings.resolved_storage_url
        storage = cls(url, database_of(url, settings.database))
        if settings.fault_injection_file:
            storage.fault_file = Path(settings.fault_injection_file)
        try:
            if own_process:
                storage._process = StorageProcess(url)
            storage._executor.submit(storage._connect).result()
        except BaseException:
            storage._executor.shutdown(wait=False)
            raise
        return storage

    def _connect(self) -> None:
        self._thread_id = threading.get_ident()
        self._client = connect(self.url) if self._process is None else RemoteClient(self._process)

    def _call(self, fn: Callable[[Client], T]) -> T:
        return self._faulted(lambda: fn(self._client))

    def _faulted(self, call: Callable[[], T]) -> T:
        fault = self._injected_fault()
        if fault == "storage_down":
            raise OperationalError("injected fault: storage_down (ClickHouse unreachable)")
        result = call()
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

    async def run_in_own_session(self, settings: dict[str, Any], fn: Callable[[Client], T]) -> T:
        """Run fn(client) on a connection of its own with these session settings (in_own_session): for
        what an operator types, which must never touch the session shipping and pages use.

        fn goes to the storage process when there is one: a module-level function (or a partial of one).
        """
        process = self._process
        if process is not None:
            return await asyncio.to_thread(self._faulted, lambda: process.in_own_session(settings, fn))
        return await self.run(lambda _client: in_own_session(self.url, settings, fn))

    def run_in_own_session_sync(self, settings: dict[str, Any], fn: Callable[[Client], T]) -> T:
        """run_in_own_session, blocking (CLI)."""
        return self.run_sync(lambda _client: in_own_session(self.url, settings, fn))

    def run_sync(self, fn: Callable[[Client], T]) -> T:
        """Run fn(client) on the storage thread and block for its result (CLI, start-up)."""
        if threading.get_ident() == self._thread_id:
            return fn(self._client)  # already on the storage thread: waiting on it would deadlock
        return self._executor.submit(self._call, fn).result()

    @property
    def process_restarts(self) -> int:
        """Times the storage process died and was started again (0 without one)."""
        return self._process.restarts if self._process is not None else 0

    @property
    def stages_receipts(self) -> bool:
        """Whether ClickHouse builds accepted receipts' rows from their journal records (embedded chDB:
        gateway/storage/staged_rows.py); elsewhere every row is built in Python."""
        return self.url.startswith("chdb://") and bool(self.url.removeprefix("chdb://").strip("/"))

    async def insert_records(
        self, raw: list[bytes], pii: PiiKeyRing | None, tokens: dict[str, str], *, staged: bool,
        retry: bool = False,
    ) -> InsertCounts:
        """Journal records → rows → one insert per table, each deduplicated by its token; what was stored.

        staged: accepted receipts go to the stage table (tokens must name it), for ClickHouse to build
        their rows. retry: the records may have landed before; every row is built here and only those a
        table lacks are inserted (writer.insert_missing; the tokens must be new). Rows are built off the
        event loop: in the storage process when there is one (in parallel with this process's queries),
        else in a thread here.
        """
        process = self._process
        if process is not None:
            return await asyncio.to_thread(
                self._faulted, lambda: process.insert_records(raw, pii, self.database, tokens, staged, retry)
            )
        schema = schema_file(self.url) if staged and not retry else None
        tables = await asyncio.to_thread(functools.partial(build_tables, raw, pii, stage_schema=schema))
        if retry:
            tables = await self.run(lambda client: insert_missing(client, self.database, tables, tokens))
        else:
            await self.run(lambda client: insert_tables(client, self.database, tables, tokens))
        return InsertCounts.of(tables)

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

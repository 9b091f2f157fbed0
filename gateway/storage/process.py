"""The storage process: the ClickHouse client and the shipper's row building in a process of their own.

The gateway is one Python process under one GIL. Turning journal records into rows and inserting them
costs nearly half of what ingest itself costs (docs/performance.md), and it holds the GIL that ingest
needs. Here that work runs in a child process,
started with `spawn` (chDB must never be forked into a child), which is the only process that opens
ClickHouse: chDB allows one engine per process and one process per data directory.

The parent talks to it over two pipes, each answered by its own thread in the child, so a query (an
analyst page, a history lookup) does not wait behind a 50,000-record batch being turned into rows:

- calls: one clickhouse-connect client call (query, command, insert, query_arrow) with its arguments;
  query results come back as QueryRows (rows and column names);
- ship: serialized journal records plus the insert tokens; the child builds the rows and inserts them.

Exceptions come back as the same (picklable) clickhouse-connect exceptions, so storage/errors.py
classifies them as before. The child exits when the gateway is gone (a thread watches its parent), and
holds a lock on the chDB directory so a successor waits until it is gone. If the child dies, the call in
hand fails as "storage unreachable" (the shipper retries with the same tokens) and the next call starts
a new child.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from clickhouse_connect.driver.exceptions import OperationalError
from clickhouse_connect.driver.query import QueryResult

from gateway.process_name import STORAGE, set_process_name
from gateway.security.pii_keys import PiiKeyRing
from gateway.storage.staged_rows import schema_file
from gateway.storage.writer import InsertCounts, build_tables, collector_paused, insert_missing, insert_tables

log = logging.getLogger(__name__)
LOCK_WAIT_S = 30.0
STOP_WAIT_S = 30.0
PARENT_POLL_S = 0.2
STORAGE_NICE = 10  # the child's CPU priority below the gateway's (nice +10)
_OWN_SESSION = "<own session>"  # a call that is not a client method: in_own_session in the child


@dataclass(frozen=True)
class QueryRows:
    """What the gateway reads of a query's result, carried across the pipe."""

    result_rows: list[Any]
    column_names: tuple[str, ...]


class StorageProcess:
    """Parent side: starts the child and forwards calls to it; one call at a time per pipe."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._restart_lock = threading.Lock()
        self._calls_lock = threading.Lock()
        self._ship_lock = threading.Lock()
        self.restarts = 0  # times the child died and a new one was started
        self._start()

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        calls, calls_child = context.Pipe()
        ship, ship_child = context.Pipe()
        process = context.Process(
            target=_serve, args=(self.url, calls_child, ship_child, os.getpid()),
            name="tracegate-storage", daemon=True,
        )
        process.start()
        calls_child.close()
        ship_child.close()
        self._process, self._calls, self._ship = process, calls, ship
        ok, value = _receive(calls, process)  # the child's connect: its errors surface here, at start
        if not ok:
            self._stop()
            raise value

    @property
    def pid(self) -> int:
        """The child's process id (for logs and tests)."""
        return int(self._process.pid or 0)

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """client.<method>(*args, **kwargs) in the child."""
        return self._exchange("calls", (method, args, kwargs))

    def in_own_session(self, settings: dict[str, Any], fn: Callable[[Any], Any]) -> Any:
        """fn(client) in the child, on a connection of its own (gateway.storage.client.in_own_session)."""
        return self._exchange("calls", (_OWN_SESSION, (settings, fn), {}))

    def insert_records(
        self, raw: list[bytes], pii: PiiKeyRing | None, database: str, tokens: dict[str, str], staged: bool,
        retry: bool = False,
    ) -> InsertCounts:
        """Build the rows of journal records in the child and insert them (retry: only what is missing,
        writer.insert_missing); what was stored."""
        inserted: InsertCounts = self._exchange("ship", (raw, pii, database, tokens, staged, retry))
        return inserted

    def _exchange(self, pipe: str, message: Any) -> Any:
        self._restart_if_dead()
        calls = pipe == "calls"
        connection, lock = (self._calls, self._calls_lock) if calls else (self._ship, self._ship_lock)
        with lock:
            with contextlib.suppress(OSError):  # the child is gone: _receive says so
                connection.send(message)
            ok, value = _receive(connection, self._process)
        if not ok:
            raise value
        return value

    def _restart_if_dead(self) -> None:
        with self._restart_lock:
            if self._process.is_alive():
                return
            log.error("the storage process exited (code %s): starting it again", self._process.exitcode)
            self.restarts += 1
            self._calls.close()
            self._ship.close()
            self._start()

    def _stop(self) -> None:
        self._calls.close()  # the child's calls thread sees EOF, closes the client and exits
        self._ship.close()
        self._process.join(STOP_WAIT_S)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()

    def close(self) -> None:
        """Close the child's client and wait for it to exit (after the calls in hand)."""
        with self._calls_lock, self._ship_lock:
            self._stop()


def _receive(connection: Connection, process: multiprocessing.process.BaseProcess) -> tuple[bool, Any]:
    try:
        answer: tuple[bool, Any] = connection.recv()
        return answer
    except (EOFError, OSError):
        process.join(1.0)
        return False, OperationalError(f"the storage process exited (code {process.exitcode})")


# ── the child ──


def _serve(url: str, calls: Connection, ship: Connection, parent_pid: int) -> None:
    set_process_name(STORAGE)
    # Acks before visibility: when both want the same core, ingest wins and the shipper catches up
    # (the effect on ack and visibility latency: docs/performance.md).
    os.nice(STORAGE_NICE)
    _die_with_parent(parent_pid)
    # The child's own import of the parent's module.
    from gateway.storage.client import connect, in_own_session

    try:
        _lock_embedded_directory(url)
        client = connect(url)
    except Exception as exc:
        calls.send((False, exc))
        return
    calls.send((True, None))
    lock = threading.Lock()  # one client call at a time; rows are built outside it

    def handle_call(message: tuple[str, tuple[Any, ...], dict[str, Any]]) -> Any:
        method, args, kwargs = message
        with lock:
            if method == _OWN_SESSION:
                settings, fn = args
                return in_own_session(url, settings, fn)
            result = getattr(client, method)(*args, **kwargs)
        if isinstance(result, QueryResult):
            return QueryRows(list(result.result_rows), tuple(result.column_names))
        return result

    def handle_ship(
        message: tuple[list[bytes], PiiKeyRing | None, str, dict[str, str], bool, bool]
    ) -> InsertCounts:
        raw, pii, database, tokens, staged, retry = message
        with collector_paused():
            tables = build_tables(raw, pii, stage_schema=schema_file(url) if staged and not retry else None)
            with lock:
                if retry:
                    tables = insert_missing(client, database, tables, tokens)
                else:
                    insert_tables(client, database, tables, tokens)
            inserted = InsertCounts.of(tables)
            del tables  # freed by refcounting before the collector resumes (see collector_paused)
        return inserted

    threading.Thread(target=_answer, args=(ship, handle_ship), name="ship", daemon=True).start()
    _answer(calls, handle_call)  # until the parent closes the calls pipe (or dies)
    with lock:
        client.close()


def _answer(connection: Connection, handle: Callable[[Any], Any]) -> None:
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):
            return
        try:
            answer: tuple[bool, Any] = (True, handle(message))
        except Exception as exc:
            answer = (False, exc)
        try:
            connection.send(answer)
        except (EOFError, OSError):
            return
        except Exception as exc:  # an answer that does not pickle: say what it was
            connection.send((False, OperationalError(f"storage answer could not be sent: {exc!r}")))


def _die_with_parent(parent_pid: int) -> None:
    """Exit when the gateway does, even when it is SIGKILLed (then no one else would stop us).

    Not PR_SET_PDEATHSIG: it fires when the parent *thread* that started us ends, and a restart may
    come from any thread. A successor waits for our directory lock meanwhile.
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_S)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _lock_embedded_directory(url: str) -> None:
    """Hold an exclusive lock beside the chDB directory for the child's life; waits for a predecessor."""
    if not url.startswith("chdb://"):
        return
    fd = os.open(url.removeprefix("chdb://").rstrip("/") + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return  # kept open (and locked) until this process exits
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise OperationalError(f"another process holds the embedded ClickHouse at {url}") from None
            time.sleep(0.1)

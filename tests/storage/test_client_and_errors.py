"""The storage thread, and what users are told when ClickHouse fails."""

from __future__ import annotations

import threading

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from gateway import errors
from gateway.storage.client import Storage, database_of
from gateway.storage.errors import classify, to_gateway_error


@pytest.mark.clickhouse
async def test_calls_run_on_one_thread_that_is_not_the_event_loop(storage: Storage) -> None:
    loop_thread = threading.get_ident()
    threads = {await storage.run(lambda c: threading.get_ident()) for _ in range(5)}
    threads.add(storage.run_sync(lambda c: threading.get_ident()))
    assert len(threads) == 1 and loop_thread not in threads
    assert await storage.run(lambda c: c.query("SELECT 41 + 1").result_rows) == [(42,)]


@pytest.mark.clickhouse
def test_unknown_table_is_permanent_and_says_nothing_of_the_server(storage: Storage) -> None:
    with pytest.raises(Exception) as caught:
        storage.run_sync(lambda c: c.query(f"SELECT secret_column FROM {storage.database}.nope"))
    failure = classify(caught.value)
    assert failure.code == 60 and not failure.retryable
    error = to_gateway_error(caught.value)
    assert error.error is errors.INTERNAL
    assert "secret_column" not in error.detail and "nope" not in error.detail


def test_network_and_overload_errors_are_retryable() -> None:
    assert classify(OperationalError("connection refused")).retryable
    too_many_parts = DatabaseError(
        "Code: 252. DB::Exception: Too many parts (600) in t_1.events (TOO_MANY_PARTS)"
    )
    assert classify(too_many_parts).name == "TOO_MANY_PARTS" and classify(too_many_parts).retryable
    error = to_gateway_error(too_many_parts)
    assert error.error is errors.STORAGE_UNAVAILABLE and "t_1" not in error.detail


def test_unknown_server_errors_are_not_retried_blindly() -> None:
    failure = classify(DatabaseError("Code: 53. DB::Exception: Type mismatch in column 'x' (TYPE_MISMATCH)"))
    assert (failure.code, failure.name, failure.retryable) == (53, "TYPE_MISMATCH", False)
    assert "column" not in failure.user_message


def test_the_database_comes_from_a_server_url_else_from_settings() -> None:
    assert database_of("http://u:p@ch.example:8123/fiscal", "tracegate") == "fiscal"
    assert database_of("https://ch.example:8443", "tracegate") == "tracegate"
    assert database_of("chdb:///var/lib/tracegate/clickhouse", "tracegate") == "tracegate"

"""Operator SQL runs in a read-only session of its own: no text an admin types can stop shipping."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.http.app import create_app
from gateway.http.keys import SERVICE
from gateway.query.sql import MAX_ROWS, readonly_query
from gateway.settings import load_settings
from gateway.storage.client import Storage
from gateway.storage.migrations import apply_migrations
from gateway.storage.rows import TABLES
from gateway.storage.staged_rows import STAGE_TABLE
from tests.storage.journal_records import Register

pytestmark = pytest.mark.clickhouse

# What an operator (or a stolen admin token) might send to /v1/admin/sql or `tracegate sql`.
HOSTILE = [
    "INSERT INTO {db}.audit_log (action) VALUES ('x')",
    "SET readonly = 1",
    "SET max_execution_time = 1",
    "SELECT 1 SETTINGS readonly = 2",
    "USE system",
    "SYSTEM STOP MERGES",
    "DROP TABLE {db}.events",
    "ALTER TABLE {db}.events DELETE WHERE 1",
    "SELECT * FROM file('/etc/passwd', 'LineAsString')",
    "SELECT 1; INSERT INTO {db}.audit_log (action) VALUES ('y')",
]


@pytest.fixture(params=[False, True], ids=["in-process", "storage-process"])
def storage(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Storage]:
    # A chDB directory of the test's own: the storage process is another process, so it may open one.
    opened = Storage.open(load_settings({"data_dir": tmp_path}, environ={}), own_process=request.param)
    opened.run_sync(lambda c: apply_migrations(c, opened.database))
    yield opened
    opened.close()


async def test_no_operator_text_stops_shipping_or_writes(storage: Storage) -> None:
    db = storage.database
    register = Register("KKM-SQL")
    for number, text in enumerate(HOSTILE, start=1):
        try:
            await readonly_query(storage, text.format(db=db))
        except Exception as exc:  # refused is fine: the point is what happens next
            assert "Code:" in str(exc)
        # Shipping (the session every insert uses) goes on after each of them …
        records = [r.SerializeToString() for r in register.shift(number, 2, number * 10)]
        tokens = {table: f"sql-test:{number}:{table}" for table in (*TABLES, STAGE_TABLE)}
        inserted = await storage.insert_records(records, None, tokens, staged=storage.stages_receipts)
        assert inserted.rows["receipts"] == 2
        # … and so does an ordinary write (tokens, audit rows, devices are written this way).
        # (Distinct rows: identical blocks are deduplicated.)
        row = f"INSERT INTO {db}.audit_log (target) VALUES ('{number}')"
        await storage.run(lambda c, sql=row: c.command(sql))
    answer = await readonly_query(storage, f"SELECT count(), countIf(action != '') FROM {db}.audit_log")
    assert answer["rows"] == [[len(HOSTILE), 0]]  # nothing the operator typed was written
    receipts = await readonly_query(storage, f"SELECT count() FROM {db}.receipts")
    assert receipts["rows"] == [[2 * len(HOSTILE)]]


async def test_an_operator_query_returns_at_most_max_rows(storage: Storage) -> None:
    answer = await readonly_query(storage, "SELECT number FROM system.numbers LIMIT 200000")
    assert len(answer["rows"]) == MAX_ROWS


async def test_the_sql_route_answers_a_storage_outage_503_and_a_bad_query_400(
    tmp_path: Path, aiohttp_client: Any
) -> None:
    """A query ClickHouse refuses is the operator's to fix (400 + its text); storage down is not (503)."""
    fault = tmp_path / "fault"
    settings = load_settings(
        {"data_dir": tmp_path / "gw", "storage_process": 0, "fault_injection_file": str(fault)}, environ={}
    )
    app = create_app(settings)
    client = await aiohttp_client(app)
    try:
        headers = {"Authorization": f"Bearer {app[SERVICE].admin_token}"}
        bad = await client.post("/v1/admin/sql", json={"query": "SELECT no_such_column"}, headers=headers)
        assert bad.status == 400 and "no_such_column" in (await bad.json())["detail"]
        fault.write_text("storage_down")
        down = await client.post("/v1/admin/sql", json={"query": "SELECT 1"}, headers=headers)
        assert down.status == 503 and down.headers["Retry-After"]
        assert (await down.json())["error"] == "storage_unavailable"
    finally:
        fault.unlink(missing_ok=True)
        await client.close()

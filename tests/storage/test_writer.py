"""insert_tables: one insert per table with its token, the column types asked once per client and table."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from gateway.storage.rows import build_rows
from gateway.storage.writer import INSERT_SETTINGS, insert_tables
from gateway.wire import pb
from tests.storage.journal_records import T0_MS, Register, sell_receipt


class FakeClient:
    """Records inserts and DESCRIBEs (create_insert_context) like clickhouse-connect's client would make."""

    def __init__(self) -> None:
        self.described: list[str] = []
        self.inserts: list[dict[str, Any]] = []
        self.fail = False

    def create_insert_context(self, table: str, names: list[str], database: str) -> Any:
        self.described.append(table)
        return SimpleNamespace(column_types=[f"{database}.{table}.{name}" for name in names])

    def insert(self, table: str, data: list[list[Any]], **kwargs: Any) -> None:
        if self.fail:
            raise RuntimeError("the table changed")
        self.inserts.append({"table": table, "data": data, **kwargs})


def test_column_types_are_asked_once_per_table_and_again_after_a_failure() -> None:
    register = Register()
    tables = build_rows([register.accepted(pb.Event(time_ms=T0_MS, receipt=sell_receipt(1, 1, [1500])))])
    tokens = {table: f"tok-{table}" for table in tables}
    client = FakeClient()
    insert_tables(client, "db", tables, tokens)
    insert_tables(client, "db", tables, tokens)
    assert client.described == ["events", "receipts", "receipt_lines"]
    first = client.inserts[1]
    assert first["table"] == "receipts" and first["database"] == "db" and first["column_oriented"]
    assert first["column_names"] == tables["receipts"].column_names()
    assert first["column_types"] == [f"db.receipts.{name}" for name in first["column_names"]]
    assert first["settings"] == INSERT_SETTINGS | {"insert_deduplication_token": "tok-receipts"}
    assert first["data"] == tables["receipts"].data()
    client.fail = True
    with pytest.raises(RuntimeError):
        insert_tables(client, "db", tables, tokens)
    client.fail = False
    insert_tables(client, "db", tables, tokens)
    assert client.described == ["events", "receipts", "receipt_lines"] * 2

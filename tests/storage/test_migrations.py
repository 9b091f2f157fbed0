"""Migrations: numbered, forward-only, applied once, with dedup windows so insert tokens work in chDB."""

from __future__ import annotations

import pytest

from gateway.settings import Settings
from gateway.storage.client import Storage
from gateway.storage.columns import COLUMNS
from gateway.storage.migrations import MigrationContext, all_migrations, apply_migrations
from gateway.storage.staged_rows import stage_statements
from gateway.storage.table_engine import SINGLE_NODE, TableEngine

TABLES = {"events", "receipts", "receipt_lines", "shifts", "rejections", "anomalies", "devices",
          "schema_migrations"}


def test_migrations_are_numbered_in_order() -> None:
    ids = [m.id for m in all_migrations()]
    assert ids and ids == sorted(ids) and ids[0] == "0001_initial"


def test_the_newest_migration_of_the_stage_table_creates_the_views_the_code_defines() -> None:
    # Migrations are fixed text; the live definitions (staged_rows.py) must be what the newest one made,
    # else shipped receipts would be read under a schema the views do not have: change them by a migration.
    creating = [m for m in all_migrations()
                if any("journal_receipts" in s for s in m.statements(MigrationContext("db", SINGLE_NODE)))]
    newest = creating[-1].statements(MigrationContext("db", SINGLE_NODE))
    assert [s for s in newest if s.startswith("CREATE")] == stage_statements("db"), creating[-1].id


def test_engine_renders_replacing_merge_tree_with_dedup_window() -> None:
    engine = TableEngine(["device_id"], replacing_version="updated_ms")
    [ddl] = SINGLE_NODE.create_table("db", "devices", "device_id String, updated_ms Int64", engine)
    assert "ENGINE = ReplacingMergeTree(updated_ms)" in ddl
    assert "ORDER BY (device_id)" in ddl and "non_replicated_deduplication_window = 10000" in ddl


@pytest.mark.clickhouse
def test_migrations_apply_once_and_again_do_nothing(settings: Settings) -> None:
    storage = Storage.open(settings)
    try:
        first = storage.run_sync(lambda c: apply_migrations(c, storage.database))
        second = storage.run_sync(lambda c: apply_migrations(c, storage.database))
        tables = storage.run_sync(lambda c: c.query(
            "SELECT name, sorting_key, engine_full FROM system.tables WHERE database = {db:String}",
            parameters={"db": storage.database}).result_rows)
        recorded = storage.run_sync(lambda c: c.query(
            f"SELECT id FROM {storage.database}.schema_migrations ORDER BY id").result_rows)
    finally:
        storage.close()
    assert first == [m.id for m in all_migrations()]
    assert second == []
    assert [row[0] for row in recorded] == first
    by_name = {name: (key, engine) for name, key, engine in tables}
    assert set(by_name) >= TABLES
    for name, (_, engine) in by_name.items():
        if "MergeTree" in engine:  # views and other engines take no inserts with tokens
            assert "non_replicated_deduplication_window = 10000" in engine, name
            # A power cut must not take confirmed rows with it (migration 0008; a new table sets them too).
            for setting in ("fsync_after_insert = 1", "fsync_part_directory = 1",
                            "min_rows_to_fsync_after_merge = 1"):
                assert setting in engine, (name, setting)
    assert by_name["events"][0] == "seller_tin, device_id, seq"
    assert by_name["receipts"][0] == "seller_tin, device_id, shift_number, document_number"
    assert by_name["receipt_lines"][0] == "seller_tin, day, gtin"
    assert "ReplacingMergeTree(updated_ms)" in by_name["devices"][1]


@pytest.mark.clickhouse
def test_row_columns_match_the_schema(storage: Storage) -> None:
    for table, columns in COLUMNS.items():
        sql = f"DESCRIBE {storage.database}.{table}"
        described = storage.run_sync(lambda c, sql=sql: c.query(sql).result_rows)
        # Columns ClickHouse fills at insert (code_events.inserted_at, migration 0006) are never written.
        written = tuple(row[0] for row in described if "now64" not in str(row[3]))
        assert written == columns, table

"""Migration 0015 on a database from before it: old anomalies keep reading, new ones carry their facts."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.storage import migrations
from gateway.storage.client import Storage
from gateway.storage.migrations import all_migrations, apply_migrations
from gateway.storage.staged_rows import schema_file
from gateway.storage.writer import build_tables, insert_tables
from gateway.wire import pb
from tests.storage.journal_records import T0_MS, Register, sell_receipt, storage_settings

pytestmark = pytest.mark.clickhouse


async def test_an_upgraded_database_keeps_old_anomalies_and_stores_the_new_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = Storage.open(storage_settings(tmp_path))
    db = storage.database
    try:
        before = [m for m in all_migrations() if m.id < "0015"]
        monkeypatch.setattr(migrations, "all_migrations", lambda: before)
        await storage.run(lambda c: apply_migrations(c, db))
        await storage.run(lambda c: c.command(
            f"INSERT INTO {db}.anomalies (kind, detected_at, event_time, seller_tin, store_id, device_id,"
            " seq, accepted, line, cis, detail) VALUES ('code_clone', now64(3), now64(3), '080740000019',"
            " 's1', 'old-1', 1, true, 1, 'c', 'the same code was sold by seller 080740000029 store B')"
        ))
        monkeypatch.undo()
        applied = await storage.run(lambda c: apply_migrations(c, db))
        assert applied == [m.id for m in all_migrations() if m.id >= "0015"]
        register = Register()
        record = register.accepted(
            pb.Event(time_ms=T0_MS, receipt=sell_receipt(1, 1, [1500])),
            [pb.Finding(kind="code_clone", line=1, detail="sold before", cis="c2",
                        other_seller_tin="080740000029", other_store_id="B", facts="{}")],
        )
        tables = build_tables([record.SerializeToString()], None, stage_schema=schema_file(storage.url))
        await storage.run(lambda c: insert_tables(c, db, tables, {t: f"u:{t}" for t in tables}))
        rows = await storage.run(lambda c: c.query(
            f"SELECT device_id, other_seller_tin, other_store_id, facts FROM {db}.anomaly_queue"
            " ORDER BY device_id"
        ).result_rows)
        assert [tuple(r) for r in rows] == [
            (register.device_id, "080740000029", "B", "{}"),  # written by the re-created view
            ("old-1", "", "", ""),
        ]
    finally:
        storage.close()

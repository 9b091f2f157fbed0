"""Erased events stored before the gateway kept their digest export as they always did: their chain hash.

A register's day is stored in real embedded chDB as the shipper stores it (receipts through the staged
views), one erased receipt journalled by a version that kept no digest (events.event_sha256 '', as
every row stored before migration 0020 reads), another by today's; then exported by the gateway's own
read side and verified offline.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from gateway.auth.tokens import ADMIN
from gateway.devices import new_device
from gateway.export.report import EXIT_PASS
from gateway.export.verify import verify_stream
from gateway.export.writer import ExportSigner
from gateway.query.export import ExportRequest, export_chunks, plan_export
from gateway.security.buyer_data import ERASED, protect_record
from gateway.storage.device_store import save_device
from gateway.storage.staged_rows import schema_file
from gateway.storage.writer import build_tables, insert_tables
from gateway.wire import pb, signing
from tests.export.builders import failures, lines_of
from tests.storage.journal_records import Register, migrated_storage, sell_receipt, storage_settings

pytestmark = pytest.mark.clickhouse


def _day(register: Register) -> list[pb.JournalRecord]:
    """seq 1..5: shift open, a sale naming a buyer without consent (journalled before digests were
    kept), a plain sale, another naming a buyer without consent (journalled now), a plain sale; as
    journalled from one upload, so only the newest keeps its signature."""
    records = [register.accepted(pb.Event(time_ms=register.tick(), shift_open=pb.ShiftOpen(shift_number=1)))]
    for document, buyer in enumerate([True, False, True, False], start=1):
        receipt = sell_receipt(1, document, [1500, 990])
        if buyer:
            receipt.buyer.phone = "+77010000000"
        records.append(register.accepted(pb.Event(time_ms=register.tick(), receipt=receipt)))
    for record in records:
        protect_record(None, record, pb.Event.FromString(record.envelope.event))
    records[1].sealed.ClearField("event_sha256")  # as journalled by a version that did not keep it
    for record in records[:-1]:
        record.envelope.ClearField("signature")  # covered by the newest of the upload
    return records


async def test_an_erased_row_without_digest_exports_its_chain_hash_and_is_attested(tmp_path: Path) -> None:
    register = Register("KKM-OLD-ROWS", seller_tin="080740000019")
    records = _day(register)
    assert [r.sealed.protection for r in records] == ["", ERASED, "", ERASED, ""]
    async with migrated_storage(storage_settings(tmp_path)) as storage:
        db = storage.database
        device = new_device(register.device_id, register.seller_tin, register.store_id,
                            signing.public_key_pem(register.key.public_key()))
        raw = [r.SerializeToString() for r in records]
        tables = build_tables(raw, None, stage_schema=schema_file(storage.url))

        def store(client: Any) -> None:
            save_device(client, db, device)
            insert_tables(client, db, tables, {table: f"old:{table}" for table in tables})

        await storage.run(store)
        stored = await storage.run(lambda c: c.query(
            f"SELECT seq, length(event_sha256) FROM {db}.events ORDER BY seq").result_rows)
        assert [tuple(row) for row in stored] == [(1, 32), (2, 0), (3, 32), (4, 32), (5, 32)]
        request = ExportRequest(device_ids=(register.device_id,))
        plans = await storage.run(lambda c: plan_export(c, db, ADMIN, request))
        data = b"".join(export_chunks(
            storage.run_sync, db, plans, signer=ExportSigner(signing.new_private_key()), gateway_id="gw-test",
            exported_by={"principal": "admin", "scope": "admin"}, request=request, ring=None,
        ))
    events = {r["seq"]: r for r in lines_of(data) if r["record"] == "event"}
    # The old row: its stored chain hash, as every erased event was exported before; today's: its digest.
    assert events[2]["envelope_hash"] == records[1].envelope_hash.hex() and "event_sha256" not in events[2]
    assert "envelope_hash" not in events[4] and "event_sha256" in events[4]
    report = verify_stream(io.BufferedReader(io.BytesIO(data)))
    assert report.exit_status == EXIT_PASS, failures(report)
    notes = [line.detail for line in report.lines if line.status == "NOTE" and line.check == "signatures"]
    assert any("passes through seq 2, withheld without its digest" in note for note in notes), notes
    assert not any("seq 4" in note for note in notes), notes

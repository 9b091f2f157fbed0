"""A poison record (its rows cannot be built) is set aside durably; the rest ships; replay, or the restart of
the upgrade that fixed it, puts it in once."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import gc
import io
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.cli.quarantine import replay_quarantine
from gateway.http.app import create_app
from gateway.http.keys import SERVICE
from gateway.ingest.journal import Journal
from gateway.settings import Settings, load_settings
from gateway.shipping.checkpoint import CHECKPOINT_NAME
from gateway.shipping.quarantine import DIRECTORY_NAME
from gateway.shipping.shipper import Shipper
from gateway.storage import rows as rows_module
from gateway.storage.client import Storage
from gateway.storage.migrations import apply_migrations
from gateway.wire import pb
from tests.storage.journal_records import Register, migrated_storage, storage_settings

pytestmark = pytest.mark.clickhouse

POISON_DEVICE = "KKM-POISON"
GOOD = {"events": 11, "receipts": 7, "receipt_lines": 13, "shifts": 2, "rejections": 1}
WITH_POISON = GOOD | {"events": 12, "receipts": 8, "receipt_lines": 14}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return storage_settings(tmp_path, shipper_batch_rows=5, shipper_interval_s=0.05)


@pytest.fixture
async def storage(settings: Settings) -> AsyncIterator[Storage]:
    async with migrated_storage(settings) as opened:
        yield opened


def open_journal(settings: Settings) -> Journal:
    return Journal.open(settings.journal_dir, segment_bytes=2048, budget_bytes=10**8)


@pytest.fixture
def poisoned(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bug: building a receipt's rows raises for one device (as a schema drift after an upgrade would)."""
    real = rows_module._stored_receipt  # every receipt's, staged for ClickHouse's views or not

    def drifted(batch: Any, record: pb.JournalRecord, *args: Any) -> tuple[bytes, str]:
        if record.envelope.device_id == POISON_DEVICE:
            raise ValueError("receipt field 99 has no column")
        return real(batch, record, *args)

    monkeypatch.setattr(rows_module, "_stored_receipt", drifted)


def fleet_with_poison() -> tuple[list[bytes], bytes]:
    """Two registers' shifts and a rejection (12 records), with one poison receipt in the middle."""
    first, second = Register("KKM-A"), Register("KKM-B", seller_tin="770000000001")
    poison = Register(POISON_DEVICE).shift(9, 1, 1)[1]  # its receipt
    records = [*first.shift(1, 4, 1), poison, *second.shift(5, 3, 100), first.rejected("bad_signature", "no")]
    raw = [r.SerializeToString() for r in records]
    return raw, poison.SerializeToString()


async def counts(storage: Storage) -> dict[str, int]:
    db = storage.database
    sql = " UNION ALL ".join(f"SELECT '{t}', count() FROM {db}.{t}" for t in GOOD)
    return {str(t): int(n) for t, n in await storage.run(lambda c: c.query(sql).result_rows)}


async def poison_events(storage: Storage) -> int:
    db = storage.database
    sql = f"SELECT count() FROM {db}.events WHERE device_id = '{POISON_DEVICE}'"
    return int((await storage.run(lambda c: c.query(sql).result_rows))[0][0])


def quarantine_files(settings: Settings) -> list[dict[str, Any]]:
    directory = settings.journal_dir / DIRECTORY_NAME
    return [json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))]


async def replay(settings: Settings, storage: Storage) -> tuple[int, str]:
    out = io.StringIO()
    left = await storage.run(lambda c: replay_quarantine(settings, c, storage.database, out=out))
    return left, out.getvalue()


async def test_the_running_gateway_says_degraded_while_a_record_is_in_quarantine(
    settings: Settings, poisoned: None, aiohttp_client: Any
) -> None:
    """The real app and service (its shipper in the background): /healthz, /readyz and /metrics."""
    threshold = gc.get_threshold()
    app = create_app(dataclasses.replace(settings, storage_process=0))  # rows built here: the bug applies
    client = await aiohttp_client(app)
    try:
        service = app[SERVICE]
        raw, _ = fleet_with_poison()
        await service.journal.append(raw)
        for _ in range(200):
            if service.journal.unshipped_bytes() == 0:
                break
            await asyncio.sleep(0.05)
        alive, ready = await client.get("/healthz"), await client.get("/readyz")
        body = await alive.json()
        assert alive.status == 200 and body["status"] == "degraded" and body["quarantined"] == 1
        assert POISON_DEVICE in body["last_quarantine"]
        assert ready.status == 200 and (await ready.json())["shipper"]["quarantined"] == 1, "ingest works"
        text = await (await client.get("/metrics")).text()
        assert "tracegate_shipper_quarantined_total 1" in text and "tracegate_quarantine_records 1" in text
    finally:
        await client.close()
        gc.unfreeze()
        gc.set_threshold(*threshold)


async def test_poison_is_set_aside_the_rest_ships_and_replay_puts_it_in_once(
    settings: Settings, storage: Storage, poisoned: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw, poison = fleet_with_poison()
    journal = open_journal(settings)
    try:
        await journal.append(raw)
        shipper = Shipper(journal, storage, settings)
        await shipper.ship_all()

        assert await counts(storage) == GOOD, "every good record is visible"
        assert journal.unshipped_bytes() == 0, "the shipper is not stuck behind the poison"
        checkpoint = json.loads((settings.journal_dir / CHECKPOINT_NAME).read_text())
        assert checkpoint == {"shipped": journal.end_position, "pending": None}
        [entry] = quarantine_files(settings)
        assert base64.b64decode(entry["record"]) == poison, "its journal bytes, intact"
        assert (entry["device_id"], entry["seq"]) == (POISON_DEVICE, 2)
        assert (entry["error_type"], entry["error"]) == ("ValueError", "receipt field 99 has no column")
        assert entry["position"] < entry["end"] <= journal.end_position and entry["quarantined_at_ms"] > 0

        stats = shipper.stats()
        assert stats["quarantined"] == 1 and stats["quarantined_total"] == 1
        assert POISON_DEVICE in stats["last_quarantine"] and "ValueError" in stats["last_quarantine"]
        assert stats["last_error"] is None

        left, said = await replay(settings, storage)
        assert left == 1 and "still fails: ValueError" in said, "no fix yet: it stays"
        assert len(quarantine_files(settings)) == 1

        monkeypatch.undo()  # the fix is deployed
        saved = settings.journal_dir / "saved.json"
        [path] = (settings.journal_dir / DIRECTORY_NAME).glob("*.json")
        shutil.copy(path, saved)
        assert await replay(settings, storage) == (0, f"position {entry['position']}: replayed "
                                                      f"({POISON_DEVICE} seq 2)\n")
        assert await counts(storage) == WITH_POISON and quarantine_files(settings) == []
        # A crash after the insert, before the file was removed: the second replay inserts nothing again.
        shutil.copy(saved, path)
        assert (await replay(settings, storage))[0] == 0
        assert await counts(storage) == WITH_POISON and await poison_events(storage) == 1
        assert await replay(settings, storage) == (0, "")
    finally:
        await journal.close()


async def test_quarantine_survives_a_restart_and_a_fixed_restart_ships_its_batch_once(
    settings: Settings, storage: Storage, poisoned: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw, _ = fleet_with_poison()
    journal = open_journal(settings)
    await journal.append(raw)
    shipper = Shipper(journal, storage, settings)
    await shipper.ship_once()  # records 0-4: good ones
    # The poison's batch: it is set aside, the rest inserted, then the answer is lost (power cut).
    fault = settings.data_dir / "fault"
    fault.write_text("storage_lost_reply")
    storage.fault_file = fault
    with pytest.raises(Exception, match="storage_lost_reply"):
        await shipper.ship_once()
    storage.fault_file = None
    pending = json.loads((settings.journal_dir / CHECKPOINT_NAME).read_text())["pending"]
    [entry] = quarantine_files(settings)
    assert pending["start"] <= entry["position"] < pending["end"], "set aside before its batch is confirmed"
    await journal.close()

    monkeypatch.undo()  # restarted with the fix: the poison's rows would build now
    journal = open_journal(settings)
    try:
        restarted = Shipper(journal, storage, settings)
        stats = restarted.stats()
        assert stats["quarantined"] == 1 and stats["quarantined_total"] == 0
        assert POISON_DEVICE in stats["last_quarantine"], "why it is there, after the restart too"

        await restarted.ship_all()
        # The pending batch went out again without the poison, only what was missing: nothing doubled.
        assert await counts(storage) == GOOD and await poison_events(storage) == 0
        assert restarted.stats()["quarantined"] == 1

        left, said = await replay(settings, storage)
        assert left == 0 and "replayed" in said
        assert await counts(storage) == WITH_POISON and await poison_events(storage) == 1
        assert quarantine_files(settings) == []
        again = Shipper(journal, storage, settings)
        assert again.stats()["quarantined"] == 0 and again.stats()["last_quarantine"] is None
    finally:
        await journal.close()


async def test_the_restart_of_an_upgrade_that_fixed_the_cause_puts_the_records_in_by_itself(
    settings: Settings, storage: Storage, poisoned: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw, _ = fleet_with_poison()
    journal = open_journal(settings)
    await journal.append(raw)
    await Shipper(journal, storage, settings).ship_all()
    assert await poison_events(storage) == 0 and len(quarantine_files(settings)) == 1
    await journal.close()

    journal = open_journal(settings)  # a restart without the fix: it stays, and the gateway ships on
    try:
        same = Shipper(journal, storage, settings)
        assert await same.retry_quarantine() == 0 and same.stats()["quarantined"] == 1
    finally:
        await journal.close()

    monkeypatch.undo()  # the upgrade with the fix, and its restart
    journal = open_journal(settings)
    try:
        upgraded = Shipper(journal, storage, settings)
        running = asyncio.create_task(upgraded.run())
        for _ in range(100):
            if not quarantine_files(settings):
                break
            await asyncio.sleep(0.05)
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        assert quarantine_files(settings) == [] and upgraded.stats()["quarantined"] == 0
        assert await counts(storage) == WITH_POISON and await poison_events(storage) == 1
    finally:
        await journal.close()


async def test_replay_waits_until_the_batch_of_the_record_is_confirmed(
    settings: Settings, storage: Storage, poisoned: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw, _ = fleet_with_poison()
    journal = open_journal(settings)
    try:
        await journal.append(raw)
        shipper = Shipper(journal, storage, settings)
        await shipper.ship_once()
        storage.fault_file = settings.data_dir / "fault"
        storage.fault_file.write_text("storage_down")  # the poison's batch is set aside, then storage fails
        with pytest.raises(Exception, match="storage_down"):
            await shipper.ship_once()
        storage.fault_file = None
        monkeypatch.undo()
        left, said = await replay(settings, storage)
        # Were it replayed now, the pending batch (built with the fix) could not leave it out: doubled.
        assert left == 1 and "not shipped yet" in said and await poison_events(storage) == 0
        await shipper.ship_all()
        assert (await replay(settings, storage))[0] == 0
        assert await counts(storage) == WITH_POISON and await poison_events(storage) == 1
    finally:
        await journal.close()


async def test_through_the_storage_process_an_unreadable_record_is_set_aside(tmp_path: Path) -> None:
    """The gateway's own path: rows built in the storage process, the failure named across its pipe.

    The poison here needs no seam: bytes this version cannot parse as a JournalRecord (as a journal
    written by a newer gateway would be after a downgrade).
    """
    settings = load_settings({"data_dir": tmp_path, "shipper_batch_rows": 5}, environ={})  # a chDB of its own
    storage = Storage.open(settings, own_process=True)
    journal = open_journal(settings)
    try:
        await storage.run(lambda c: apply_migrations(c, storage.database))
        raw, _ = fleet_with_poison()
        unreadable = b"\xff\xff\xff\x01"
        await journal.append([*raw[:7], unreadable, *raw[7:]])
        shipper = Shipper(journal, storage, settings)
        await shipper.ship_all()
        assert await counts(storage) == WITH_POISON, "everything readable is visible"
        assert journal.unshipped_bytes() == 0
        [entry] = quarantine_files(settings)
        assert base64.b64decode(entry["record"]) == unreadable
        assert (entry["device_id"], entry["seq"], entry["error_type"]) == ("", -1, "DecodeError")
        assert shipper.stats()["quarantined"] == 1
    finally:
        await journal.close()
        storage.close()

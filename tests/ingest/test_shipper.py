"""The shipper: every journalled record reaches ClickHouse exactly once, through retries and crashes."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.ingest.journal import Journal
from gateway.settings import Settings
from gateway.shipping import shipper as shipper_module
from gateway.shipping.checkpoint import CHECKPOINT_NAME, Checkpoint
from gateway.shipping.shipper import Shipper
from gateway.storage.client import Storage
from gateway.wire import pb
from tests.storage.journal_records import Register, migrated_storage, storage_settings

pytestmark = pytest.mark.clickhouse


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return storage_settings(tmp_path, shipper_batch_rows=5, shipper_interval_s=0.05)


@pytest.fixture
async def storage(settings: Settings) -> AsyncIterator[Storage]:
    async with migrated_storage(settings) as opened:
        yield opened


@pytest.fixture
async def journal(settings: Settings) -> AsyncIterator[Journal]:
    opened = Journal.open(settings.journal_dir, segment_bytes=2048, budget_bytes=10**8)
    yield opened
    await opened.close()


def fleet_records() -> list[pb.JournalRecord]:
    """Two registers' shifts and a rejection: 12 records, 11 accepted."""
    first, second = Register("KKM-A"), Register("KKM-B", seller_tin="770000000001")
    return [*first.shift(1, 4, 1), *second.shift(5, 3, 100), first.rejected("bad_signature", "no")]


async def journal_all(journal: Journal, records: list[pb.JournalRecord]) -> None:
    await journal.append([r.SerializeToString() for r in records])


async def counts(storage: Storage) -> dict[str, int]:
    db = storage.database
    tables = ("events", "receipts", "receipt_lines", "shifts", "rejections")
    sql = " UNION ALL ".join(f"SELECT '{t}', count() FROM {db}.{t}" for t in tables)
    return {str(t): int(n) for t, n in await storage.run(lambda c: c.query(sql).result_rows)}


EXPECTED = {"events": 11, "receipts": 7, "receipt_lines": 13, "shifts": 2, "rejections": 1}


def checkpoint(settings: Settings) -> dict[str, object]:
    return dict(json.loads((settings.journal_dir / CHECKPOINT_NAME).read_text()))


async def restart_after_power_cut(
    journal: Journal, storage: Storage, settings: Settings, arriving: list[pb.JournalRecord]
) -> None:
    """The process died without a flush and more arrived: a new shipper stores everything exactly once."""
    await journal_all(journal, arriving)
    await Shipper(journal, storage, settings).ship_all()
    assert await counts(storage) == EXPECTED


async def test_ships_everything_in_batches_and_checkpoints(
    journal: Journal, storage: Storage, settings: Settings
) -> None:
    await journal_all(journal, fleet_records())
    shipper = Shipper(journal, storage, settings)
    assert await shipper.ship_once() == 5
    assert shipper.stats()["lag_records"] == 7
    await shipper.ship_all()
    assert await counts(storage) == EXPECTED
    stats = shipper.stats()
    assert stats["lag_bytes"] == 0 and stats["lag_records"] == 0 and stats["batches"] == 3
    assert stats["rows_by_table"]["events"] == 11 and stats["last_error"] is None
    assert checkpoint(settings)["shipped"] == journal.end_position and checkpoint(settings)["pending"] is None
    assert journal.unshipped_bytes() == 0


async def test_a_batch_shipped_again_does_not_double_rows(
    journal: Journal, storage: Storage, settings: Settings
) -> None:
    await journal_all(journal, fleet_records())
    shipper = Shipper(journal, storage, settings)
    await shipper.ship_once()
    await shipper.ship_once()
    assert journal.oldest_position == 0, "every segment is still on disk"
    # The checkpoint file is lost: shipping starts over from the journal's start with the same tokens.
    (settings.journal_dir / CHECKPOINT_NAME).unlink()
    again = Shipper(journal, storage, settings)
    await again.ship_all()
    assert await counts(storage) == EXPECTED


async def test_crash_after_a_confirmed_insert_does_not_double(
    journal: Journal, storage: Storage, settings: Settings
) -> None:
    """A confirmed batch is written down with the next batch's claim: a crash before that ships it again,
    and its tokens store nothing twice."""
    records = fleet_records()
    await journal_all(journal, records[:3])  # a short batch: a fresh read after the restart would be longer
    shipper = Shipper(journal, storage, settings)
    assert await shipper.ship_once() == 3
    assert checkpoint(settings)["pending"] is not None  # confirmed, not yet written down: the power goes
    assert (await counts(storage))["events"] == 3
    # More arrives before the restart: the pending range must still go out exactly as it was.
    await restart_after_power_cut(journal, storage, settings, records[3:])


async def test_one_checkpoint_write_a_batch_and_the_journal_keeps_what_it_does_not_cover(
    journal: Journal, storage: Storage, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each batch's claim also writes down the batch before it; segments leave the journal only once the
    file says they are shipped, so a crash at any point finds its pending range on disk."""
    real_write = shipper_module.write_checkpoint
    written: list[tuple[int, object]] = []

    def counted(path: Path, state: Checkpoint) -> None:
        written.append((state.shipped, state.pending))
        real_write(path, state)

    monkeypatch.setattr(shipper_module, "write_checkpoint", counted)
    records = fleet_records()
    for record in records[:10]:  # one append each: the journal rolls to a new segment every ~2 kB
        await journal_all(journal, [record])
    shipper = Shipper(journal, storage, settings)
    written.clear()  # the constructor writes a fresh file
    assert await shipper.ship_once() == 5
    assert await shipper.ship_once() == 5
    first_end = written[0][1][1]  # type: ignore[index]
    assert written == [(0, (0, first_end)), (first_end, (first_end, journal.end_position))]
    assert journal.oldest_position <= first_end, "the second range, still pending on disk, is kept"
    # The power goes now: the restart ships the second batch again, then the rest.
    await restart_after_power_cut(journal, storage, settings, records[10:])
    assert checkpoint(settings) == {"shipped": journal.end_position, "pending": None}


async def test_a_range_whose_claim_was_not_written_is_not_inserted_until_it_is(
    journal: Journal, storage: Storage, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk refused the claim's write: the next attempt writes it before inserting, so a crash after
    that insert re-ships the same range under the same tokens."""
    records = fleet_records()
    await journal_all(journal, records[:3])
    shipper = Shipper(journal, storage, settings)
    real_write = shipper_module.write_checkpoint
    failures = iter([OSError("disk full")])

    def failing_once(path: Path, state: Checkpoint) -> None:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        real_write(path, state)

    monkeypatch.setattr(shipper_module, "write_checkpoint", failing_once)
    with pytest.raises(OSError):
        await shipper.ship_once()
    assert (await counts(storage))["events"] == 0
    assert await shipper.ship_once() == 3
    assert checkpoint(settings)["pending"] is not None
    # The power goes; more arrives before the restart, which must not see a longer first range.
    await restart_after_power_cut(journal, storage, settings, records[3:])


async def test_a_range_pending_across_an_upgrade_is_not_doubled(
    journal: Journal, storage: Storage, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gateway that built receipts' rows in Python crashed after its insert; the upgraded one stages
    receipts for ClickHouse's views, whose inserts carry other tokens: the pending range is completed
    with what is missing (nothing), the next one is staged."""
    await journal_all(journal, fleet_records()[:5])
    old = Shipper(journal, storage, settings)
    monkeypatch.setattr(Storage, "stages_receipts", property(lambda self: False))
    await old.ship_once()  # confirmed; then the power goes before the checkpoint says so
    monkeypatch.undo()
    path = settings.journal_dir / CHECKPOINT_NAME
    old_format = json.loads(path.read_text())
    old_format["pending"]["staged"] = False  # the file as the gateway before this one wrote it
    path.write_text(json.dumps(old_format))
    assert (await counts(storage))["receipts"] == 4
    upgraded = Shipper(journal, storage, settings)
    assert storage.stages_receipts and upgraded.checkpoint.pending is not None
    await upgraded.ship_all()
    first_five = {"events": 5, "receipts": 4, "receipt_lines": 7, "shifts": 0, "rejections": 0}
    assert await counts(storage) == first_five
    await journal_all(journal, fleet_records()[5:6])  # the next range is staged
    await upgraded.ship_all()
    assert (await counts(storage))["events"] == 6


async def test_the_interval_between_batches_counts_from_the_batch_start(
    journal: Journal, storage: Storage, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a batch that took most of the interval, the next goes when the interval is up, not an interval
    later (a busy gateway's records would wait twice); after a quick one it waits the rest."""
    await journal_all(journal, fleet_records()[:3])  # fewer than a batch: the shipper waits between
    shipper = Shipper(journal, storage, dataclasses.replace(settings, shipper_interval_s=1.0))
    times = iter([100.0, 100.8, 200.0, 200.1, 300.0, 301.5])  # (start, end) of three rounds
    shipper.clock = lambda: next(times)
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            raise asyncio.CancelledError
        await real_sleep(0)

    monkeypatch.setattr(shipper_module.asyncio, "sleep", sleep)
    with pytest.raises(asyncio.CancelledError):
        await shipper.run()
    assert waits == [pytest.approx(0.2), pytest.approx(0.9), 0.0]
    assert (await counts(storage))["events"] == 3


async def test_storage_failure_is_retried_until_it_recovers(
    journal: Journal, storage: Storage, settings: Settings
) -> None:
    db = storage.database
    await storage.run(lambda c: c.command(f"RENAME TABLE {db}.receipts TO {db}.receipts_away"))
    await journal_all(journal, fleet_records())
    shipper = Shipper(journal, storage, settings)
    task = asyncio.create_task(shipper.run())
    try:
        for _ in range(200):
            if shipper.stats()["last_error"]:
                break
            await asyncio.sleep(0.02)
        stats = shipper.stats()
        assert stats["last_error"] and "UNKNOWN_TABLE" in stats["last_error"]
        assert stats["lag_bytes"] > 0 and journal.unshipped_bytes() > 0
        await storage.run(lambda c: c.command(f"RENAME TABLE {db}.receipts_away TO {db}.receipts"))
        for _ in range(300):
            if shipper.stats()["lag_bytes"] == 0:
                break
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert await counts(storage) == EXPECTED
    assert shipper.stats()["last_error"] is None


async def _confirmed_but_pending(journal: Journal, storage: Storage, settings: Settings) -> None:
    """A batch inserted and confirmed, the power gone before the checkpoint said so."""
    await journal_all(journal, fleet_records()[:5])
    assert await Shipper(journal, storage, settings).ship_once() == 5
    assert checkpoint(settings)["pending"] is not None


async def test_a_pending_range_resent_after_the_dedup_window_is_not_doubled(
    journal: Journal, storage: Storage, settings: Settings
) -> None:
    """The range's tokens are forgotten (the window passed: thousands of inserts since, or a power cut
    that kept the parts and lost the deduplication log): the restart inserts only what is missing."""
    await _confirmed_but_pending(journal, storage, settings)
    for table in ("events", "receipts", "receipt_lines", "shifts", "rejections", "code_events", "anomalies"):
        sql = f"ALTER TABLE {storage.database}.{table} MODIFY SETTING non_replicated_deduplication_window = 0"
        await storage.run(lambda c, sql=sql: c.command(sql))  # type: ignore[misc]
    await restart_after_power_cut(journal, storage, settings, fleet_records()[5:])


async def test_a_pending_range_that_landed_in_some_tables_only_is_completed(
    journal: Journal, storage: Storage, settings: Settings
) -> None:
    """The power went mid-insert: events and receipts landed, receipt_lines did not, yet ClickHouse kept
    their token. The restart adds the missing lines, and nothing twice."""
    await _confirmed_but_pending(journal, storage, settings)
    sql = f"DELETE FROM {storage.database}.receipt_lines WHERE 1"  # the part that never reached the disk
    await storage.run(lambda c: c.command(sql))
    await restart_after_power_cut(journal, storage, settings, fleet_records()[5:])


async def test_a_pending_range_with_ofd_exchanges_is_completed_after_a_restart(
    journal: Journal, storage: Storage, settings: Settings
) -> None:
    """OFD registers' exchanges ride in the journal records (ofd_exchanges: no seq, keyed by OFD id and
    number). A range holding them that was confirmed but not written down is completed after the restart
    like any other, each exchange once (before: every attempt raised, and the shipper stood still)."""
    register = Register("KKM-OFD")
    records = register.shift(1, 2, 1)
    def exchange(number: int, command: int, answered_ms: int) -> pb.OfdExchangeLog:
        return pb.OfdExchangeLog(ofd_id=200001, number=number, answered_ms=answered_ms, command=command,
                                 sealed=b"sealed")

    for number, record in enumerate(records[:3], start=1):  # documents of the register, each an exchange
        record.authentication = "ofd_token"
        record.ofd_exchange.CopyFrom(exchange(number, 1, record.received_ms))
    service = pb.JournalRecord(  # a service command's exchange: a record without an event
        envelope=pb.Envelope(device_id=register.device_id), received_ms=records[2].received_ms,
        accepted=False, seller_tin=register.seller_tin, store_id=register.store_id, gateway_id="gw-test",
        authentication="ofd_token", ofd_exchange=exchange(4, 5, records[2].received_ms))
    await journal_all(journal, [*records[:3], service])
    assert await Shipper(journal, storage, settings).ship_once() == 4
    assert checkpoint(settings)["pending"] is not None  # confirmed; the power goes before it is written down
    await journal_all(journal, records[3:])
    await Shipper(journal, storage, settings).ship_all()
    db = storage.database
    stored = await storage.run(lambda c: c.query(
        f"SELECT number, count() FROM {db}.ofd_exchanges GROUP BY number ORDER BY number").result_rows)
    # A ReplacingMergeTree by OFD id: merges keep the newest exchange only; none may be there twice.
    assert {tuple(row)[1] for row in stored} == {1} and max(row[0] for row in stored) == 4
    assert (await counts(storage))["events"] == len(records)

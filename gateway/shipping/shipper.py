"""Shipper: tails the journal into ClickHouse in batches, idempotently, advancing only after confirmation.

A record whose rows cannot be built (a bug, a schema drift after an upgrade) is set aside in the quarantine
(gateway/shipping/quarantine.py) and the rest of its batch ships, instead of the batch failing for ever.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.ingest.journal import FRAME_HEADER, Journal
from gateway.security.pii_keys import load_key_ring
from gateway.settings import Settings
from gateway.shipping.checkpoint import CHECKPOINT_NAME, load_checkpoint, write_checkpoint
from gateway.shipping.dedup_tokens import dedup_token
from gateway.shipping.quarantine import DIRECTORY_NAME, Quarantine, batch_confirmed, quarantined, replay_entry
from gateway.storage.client import Storage
from gateway.storage.errors import classify
from gateway.storage.rows import TABLES
from gateway.storage.staged_rows import STAGE_TABLE
from gateway.storage.writer import InsertCounts, RowsNotBuilt

log = logging.getLogger(__name__)

BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0
RETRY_AT_START = 100  # quarantined records retried when the shipper starts (see retry_quarantine)


@dataclass
class ShipperStats:
    """What the shipper has done; exposed by stats()."""

    batches: int = 0
    records: int = 0
    rows_by_table: dict[str, int] = field(default_factory=dict)
    anomalies_by_kind: dict[str, int] = field(default_factory=dict)  # anomaly rows stored, by kind
    last_error: str | None = None
    last_error_at_ms: int | None = None
    last_shipped_at_ms: int | None = None
    consecutive_failures: int = 0
    errors: int = 0
    quarantined: int = 0  # records set aside by this process
    last_quarantine: str | None = None
    last_quarantine_at_ms: int | None = None


class Shipper:
    """Moves journal records into ClickHouse; the checkpoint advances only past confirmed inserts."""

    def __init__(self, journal: Journal, storage: Storage, settings: Settings) -> None:
        self.journal = journal
        self.storage = storage
        self.batch_records = max(1, settings.shipper_batch_rows)
        self.interval_s = settings.shipper_interval_s
        # Buyer personal data is sealed under the operator's key ring while rows are built.
        self._pii = load_key_ring(settings)
        self.checkpoint_path = journal.directory / CHECKPOINT_NAME
        # Tiny file, read once at construction (start-up, before serving).
        self.checkpoint = load_checkpoint(self.checkpoint_path, start=journal.shipped_position)
        if not self.checkpoint_path.exists():
            write_checkpoint(self.checkpoint_path, self.checkpoint)
        journal.mark_shipped(self.checkpoint.shipped)
        self._stats = ShipperStats()
        self.quarantine = Quarantine(journal.directory / DIRECTORY_NAME)
        if self.quarantine.positions:  # from before a restart: say why, until replayed
            newest = max(self.quarantine.entries(), key=lambda entry: entry.quarantined_at_ms)
            self._stats.last_quarantine = newest.reason
            self._stats.last_quarantine_at_ms = newest.quarantined_at_ms
        self._shipped_on_disk: int | None = None  # records on disk before the shipped position
        self._saved = True  # the checkpoint file says what self.checkpoint says
        self._releasing: asyncio.Task[None] | None = None  # the journal deleting shipped segments
        self.clock = time.monotonic  # paces the batches (tests set their own)
        # Called with the record count of every confirmed batch (metrics: batch size histogram).
        self.batch_observers: list[Callable[[int], None]] = []

    async def run(self) -> None:
        """Ship forever (until cancelled), retrying storage failures with exponential back-off.

        First, records set aside before this start are tried again: the usual fix is an upgrade, and an
        upgrade is a restart.
        """
        if self.quarantine.positions:
            try:
                await self.retry_quarantine()
            except Exception as exc:  # storage not there yet: `tracegate quarantine replay` remains
                log.warning("could not retry the quarantined records at start: %s", type(exc).__name__)
        backoff = BACKOFF_FIRST_S
        while True:
            started = self.clock()
            try:
                shipped = await self.ship_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # storage down or rejecting: keep the journal, retry later
                self._record_failure(exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            backoff = BACKOFF_FIRST_S
            if shipped < self.batch_records:
                # Not a full batch: wait so the next one is larger, about one insert per interval per table.
                # The interval counts from this batch's start: when shipping took longer (a busy gateway),
                # the records that came meanwhile go at once, not an interval later.
                await asyncio.sleep(max(0.0, self.interval_s - (self.clock() - started)))

    async def ship_once(self) -> int:
        """Ship the pending range if there is one, else the next batch; returns the records shipped.

        A confirmed batch becomes durable in the checkpoint with the next batch's claim (one checkpoint
        write a batch, not two: each is a few fsyncs on the path between two inserts), or in flush() when
        there is nothing more to ship. A restart before that ships the batch again under its tokens, which
        stores nothing twice; the journal keeps its records until the checkpoint says they are shipped.
        """
        if self._shipped_on_disk is None:
            self._shipped_on_disk = await asyncio.to_thread(self._count_shipped_on_disk)
        retry = self.checkpoint.pending is not None
        if self.checkpoint.pending is not None:
            # Found pending: an attempt failed, or this process started with it. It may have landed, in
            # some tables or all, so only what ClickHouse lacks goes in (writer.insert_missing).
            if not self._saved:  # the claim's write failed: the range goes out only once it is on disk
                await self._save_checkpoint()
            start, end = self.checkpoint.pending
            raw, next_pos = await asyncio.to_thread(
                self.journal.read, start, max_records=2**62, stop=end
            )
            if next_pos != end:
                raise RuntimeError(f"pending range {start}-{end} ends at {next_pos} in the journal")
        else:
            start = self.checkpoint.shipped
            raw, end = await asyncio.to_thread(self.journal.read, start, max_records=self.batch_records)
            if not raw:
                await self.flush()
                return 0
            self.checkpoint.pending = (start, end)
            self._saved = False
            await self._save_checkpoint()
        await self._insert(start, end, raw, retry=retry)
        self.checkpoint.shipped = end
        self.checkpoint.pending = None
        self._saved = False
        self._shipped_on_disk += len(raw)
        self._stats.records += len(raw)
        self._stats.batches += 1
        self._stats.consecutive_failures = 0
        self._stats.last_error = None
        self._stats.last_shipped_at_ms = int(time.time() * 1000)
        for observe in self.batch_observers:
            observe(len(raw))
        return len(raw)

    async def flush(self) -> None:
        """Make the confirmed position durable and let the journal delete what it covers."""
        if not self._saved:
            await self._save_checkpoint()
        if self._releasing is not None:
            await self._releasing

    async def _save_checkpoint(self) -> None:
        await asyncio.to_thread(write_checkpoint, self.checkpoint_path, self.checkpoint)
        self._saved = True
        # What the file now says is shipped may leave the journal; deleting segments (unlinks and a
        # directory fsync) goes on beside the next insert, one deletion at a time.
        self._releasing = asyncio.create_task(self._release(self.checkpoint.shipped, self._releasing))

    async def _release(self, shipped: int, before: asyncio.Task[None] | None) -> None:
        if before is not None:
            await before
        try:
            deleted = await asyncio.to_thread(self.journal.mark_shipped, shipped)
        except OSError as exc:  # a later release retries: mark_shipped deletes every segment it covers
            log.warning("could not delete shipped journal segments: %s", exc)
            return
        if self._shipped_on_disk is not None:
            self._shipped_on_disk -= deleted

    async def retry_quarantine(self) -> int:
        """Insert each quarantined record whose batch is confirmed and whose rows build now (under its own
        tokens, as `tracegate quarantine replay` does); returns how many left the quarantine.

        At most RETRY_AT_START of them: each costs one small insert per table (~15 ms and a part each), so
        thousands (a bug that hit every receipt) are left to `tracegate quarantine replay`, at a quiet hour.
        """
        replayed = 0
        database = self.storage.database
        ready = [entry for entry in self.quarantine.entries()
                 if batch_confirmed(entry, self.journal.journal_id, self.checkpoint.shipped)]
        if len(ready) > RETRY_AT_START:
            log.warning("%d journal records in quarantine: retrying the first %d at start, replay the rest "
                        "with `tracegate quarantine replay`", len(ready), RETRY_AT_START)
        for entry in ready[:RETRY_AT_START]:
            why = await self.storage.run(lambda c, e=entry: replay_entry(e, c, database, self._pii))  # type: ignore[misc]
            if why is None:
                await asyncio.to_thread(self.quarantine.remove, entry.position)
                log.info("journal record at %d (%s) left the quarantine: its rows build now",
                         entry.position, entry.reason)
                replayed += 1
            else:
                log.warning("journal record at %d stays in quarantine: %s", entry.position, why)
        return replayed

    async def wait_shipped(self, position: int, timeout_s: float) -> bool:
        """Wait until storage has confirmed everything before position; False if timeout_s passed first."""
        deadline = self.clock() + timeout_s
        while self.checkpoint.shipped < position:
            if self.clock() >= deadline:
                return False
            await asyncio.sleep(min(0.05, self.interval_s))
        return True

    async def ship_all(self) -> int:
        """Ship until the journal is caught up at the moment of the call; returns records shipped."""
        target = self.journal.end_position
        total = 0
        while self.checkpoint.shipped < target or self.checkpoint.pending is not None:
            total += await self.ship_once()
        await self.flush()
        return total

    def _count_shipped_on_disk(self) -> int:
        records, _ = self.journal.read(
            self.journal.oldest_position, max_records=2**62, stop=self.checkpoint.shipped
        )
        return len(records)

    async def _insert(self, start: int, end: int, raw: list[bytes], *, retry: bool) -> None:
        """Insert the range's rows, without its quarantined records; set aside records that fail to build.

        Every attempt at a range leaves out the same records (those with a quarantine file). The first
        goes out under the range's tokens; a retry inserts what ClickHouse lacks under tokens of its own
        (an earlier attempt's token may be known to ClickHouse without its rows, after a power cut).
        """
        suffix = f":retry-{uuid.uuid4().hex[:12]}" if retry else ""
        tokens = {
            table: dedup_token(self.journal.journal_id, start, end, table) + suffix
            for table in (*TABLES, STAGE_TABLE)
        }
        try:
            inserted = await self._insert_kept(start, end, raw, tokens, retry)
        except RowsNotBuilt as exc:
            await asyncio.to_thread(self._set_aside, start, raw, exc.failures)
            inserted = await self._insert_kept(start, end, raw, tokens, retry)
        for totals, counts in ((self._stats.rows_by_table, inserted.rows),
                               (self._stats.anomalies_by_kind, inserted.anomalies)):
            for name, count in counts.items():
                totals[name] = totals.get(name, 0) + count

    async def _insert_kept(
        self, start: int, end: int, raw: list[bytes], tokens: dict[str, str], retry: bool
    ) -> InsertCounts:
        kept = raw
        if self.quarantine.holds_any(start, end):
            kept = [record for _, record in self._kept(start, raw)]
        if not kept:
            return InsertCounts({}, {})
        return await self.storage.insert_records(
            kept, self._pii, tokens, staged=self.storage.stages_receipts, retry=retry
        )

    def _kept(self, start: int, raw: list[bytes]) -> list[tuple[tuple[int, int], bytes]]:
        """((position, next position), record) of the range's records not in quarantine."""
        kept = []
        position = start
        for record in raw:
            after = position + FRAME_HEADER.size + len(record)
            if position not in self.quarantine.positions:
                kept.append(((position, after), record))
            position = after
        return kept

    def _set_aside(self, start: int, raw: list[bytes], failures: list[tuple[int, str, str]]) -> None:
        """Write the failed records to the quarantine (durably, before their batch ships without them)."""
        kept = self._kept(start, raw)  # what the failed attempt was given: failures index into it
        journal_id = self.journal.journal_id
        entries = [
            quarantined(kept[i][1], *kept[i][0], journal_id, error_type, error)
            for i, error_type, error in failures
        ]
        self.quarantine.add(entries)
        for entry in entries:
            log.warning(
                "journal record at %d set aside in %s (%s); the rest of its batch ships. See `tracegate "
                "quarantine list`; after a fix, `tracegate quarantine replay` inserts it",
                entry.position, self.quarantine.directory, entry.reason,
            )
        self._stats.quarantined += len(entries)
        self._stats.last_quarantine = entries[-1].reason
        self._stats.last_quarantine_at_ms = entries[-1].quarantined_at_ms

    def _record_failure(self, exc: Exception) -> None:
        failure = classify(exc)
        self._stats.consecutive_failures += 1
        self._stats.errors += 1
        self._stats.last_error = f"{failure.name}: {failure.user_message}"
        self._stats.last_error_at_ms = int(time.time() * 1000)
        log.warning("shipping failed (%s, retryable=%s): %s", failure.name, failure.retryable, exc)

    def stats(self) -> dict[str, Any]:
        """Shipped position, lag, batches, rows by table, anomalies by kind and the last error (None when
        healthy)."""
        end = self.journal.end_position
        return {
            "shipped_position": self.checkpoint.shipped,
            "pending": list(self.checkpoint.pending) if self.checkpoint.pending else None,
            "lag_bytes": max(0, end - self.checkpoint.shipped),
            "lag_records": None
            if self._shipped_on_disk is None
            else max(0, self.journal.record_count() - self._shipped_on_disk),
            "records_shipped": self._stats.records,
            "batches": self._stats.batches,
            "rows_by_table": dict(self._stats.rows_by_table),
            "anomalies_by_kind": dict(self._stats.anomalies_by_kind),
            "last_error": self._stats.last_error,
            "last_error_at_ms": self._stats.last_error_at_ms,
            "last_shipped_at_ms": self._stats.last_shipped_at_ms,
            "consecutive_failures": self._stats.consecutive_failures,
            "errors_total": self._stats.errors,
            "quarantined": len(self.quarantine.positions),
            "quarantined_total": self._stats.quarantined,
            "last_quarantine": self._stats.last_quarantine,
            "last_quarantine_at_ms": self._stats.last_quarantine_at_ms,
        }

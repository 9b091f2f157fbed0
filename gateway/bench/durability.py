"""`tracegate bench --durability`: what making ClickHouse's writes survive a power cut costs the shipper.

Three ways, each on a fresh embedded ClickHouse of its own, shipping the same journal records in the
same batches, taking turns so a busy machine weighs on each alike:

- none: parts written as ClickHouse does by default (no fsync): the baseline, not safe;
- fsync_parts: migration 0008's settings (fsync_after_insert, fsync_part_directory, and merged parts);
- syncfs: no fsync by ClickHouse; the shipper syncs the whole filesystem of the data directory after
  each batch, before the journal may let the batch go (the "keep the journal until it is on disk" way).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gateway.bench.workload import generate
from gateway.settings import load_settings
from gateway.storage.client import Storage
from gateway.storage.migrations import apply_migrations
from gateway.storage.rows import TABLES
from gateway.storage.staged_rows import STAGE_TABLE
from gateway.wire import pb, signing

OPTIONS = ("none", "fsync_parts", "syncfs")
_UNSAFE = "fsync_after_insert = 0, fsync_part_directory = 0, min_rows_to_fsync_after_merge = 0"


@dataclass
class OptionResult:
    """One way's batch times (seconds) over every round."""

    option: str
    batch_s: list[float] = field(default_factory=list)
    records: int = 0

    @property
    def records_per_s(self) -> float:
        """Records shipped per second of shipping."""
        return self.records / sum(self.batch_s) if self.batch_s else 0.0

    def quantile_ms(self, q: float) -> float:
        """A batch-time quantile, in ms."""
        ordered = sorted(self.batch_s)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def journal_records(receipts: int, devices: int = 20) -> list[bytes]:
    """The bench's receipts (5 lines, 1.5 codes on average) as accepted journal records."""
    workload = generate(devices=devices, receipts=receipts, batch_size=500, backlog_events=1,
                        backlog_batch=1, workers=2)
    now_ms = time.time_ns() // 1_000_000
    out = []
    for device in workload.devices:
        for body in device.batches:
            for envelope in pb.IngestBatch.FromString(body).envelopes:
                preimage = signing.event_preimage(envelope.device_id, envelope.seq, envelope.prev_hash,
                                                  envelope.event)
                out.append(pb.JournalRecord(
                    envelope=envelope, received_ms=now_ms, accepted=True,
                    envelope_hash=signing.envelope_hash(preimage), fiscal_sign=f"FS{envelope.seq}",
                    seller_tin=device.seller_tin, store_id=device.store_id, gateway_id="bench",
                ).SerializeToString())
    return out


def _syncfs(directory: Path) -> None:
    """syncfs(2): every dirty page of the filesystem holding directory (parts, logs, directories)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(directory, os.O_RDONLY)
    try:
        if libc.syncfs(fd) != 0:
            raise OSError(ctypes.get_errno(), "syncfs failed")
    finally:
        os.close(fd)


async def _ship(option: str, workdir: Path, records: list[bytes], batch: int, result: OptionResult,
                progress: Callable[[str], None]) -> None:
    data = workdir / f"{option}-{len(result.batch_s)}"
    settings = load_settings({"data_dir": data}, environ={})
    storage = Storage.open(settings, own_process=True)
    try:
        storage.run_sync(lambda c: apply_migrations(c, storage.database))
        if option != "fsync_parts":
            tables = storage.run_sync(lambda c: c.query(
                "SELECT name FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree'",
                parameters={"db": storage.database}).result_rows)
            for (table,) in tables:
                sql = f"ALTER TABLE {storage.database}.{table} MODIFY SETTING {_UNSAFE}"
                storage.run_sync(lambda c, sql=sql: c.command(sql))  # type: ignore[misc]
        _syncfs(data)  # start each way with nothing dirty
        for start in range(0, len(records), batch):
            chunk = records[start : start + batch]
            tokens = {table: f"bench:{start}:{table}" for table in (*TABLES, STAGE_TABLE)}
            began = time.perf_counter()
            await storage.insert_records(chunk, None, tokens, staged=storage.stages_receipts)
            if option == "syncfs":
                _syncfs(data)
            result.batch_s.append(time.perf_counter() - began)
            result.records += len(chunk)
        progress(f"  {option}: {len(records)} records, median batch "
                 f"{1000 * statistics.median(result.batch_s[-max(1, len(records) // batch):]):.0f} ms")
    finally:
        storage.close()
        shutil.rmtree(data, ignore_errors=True)


def run_durability(
    receipts: int, batch: int, rounds: int, progress: Callable[[str], None]
) -> list[OptionResult]:
    """Ship the same records every way, `rounds` times each in turn; the results by way."""
    progress(f"signing {receipts} receipts …")
    records = journal_records(receipts)
    results = {option: OptionResult(option) for option in OPTIONS}
    workdir = Path(tempfile.mkdtemp(prefix="tracegate-durability-"))
    try:
        for round_ in range(rounds):
            progress(f"round {round_ + 1} of {rounds}")
            for option in OPTIONS:
                asyncio.run(_ship(option, workdir, records, batch, results[option], progress))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return list(results.values())


def report(results: list[OptionResult]) -> str:
    """The figures as a table, with each way's ratio to the baseline measured in the same run."""
    base = results[0]
    lines = [f"{'way':<12} {'records/s':>10} {'batch p50':>10} {'batch p90':>10} {'throughput vs none':>19}"]
    for result in results:
        ratio = result.records_per_s / base.records_per_s if base.records_per_s else 0.0
        lines.append(f"{result.option:<12} {result.records_per_s:>10,.0f} {result.quantile_ms(0.5):>7.0f} ms "
                     f"{result.quantile_ms(0.9):>7.0f} ms {ratio:>18.2f}x")
    return "\n".join(lines)

"""Journal records into ClickHouse: the rows of one shipped range, one insert per table, each with its token.

Used where the ClickHouse client lives: in the gateway process, or in the storage process of its own
(gateway/storage/process.py) that takes this work off the gateway's GIL.
"""

from __future__ import annotations

import contextlib
import gc
import weakref
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.security.pii_keys import PiiKeyRing
from gateway.storage.columns import COLUMNS
from gateway.storage.rows import TableRows, build_rows
from gateway.storage.staged_rows import STAGE_TABLE, StagedReceipts
from gateway.wire import pb

# On a cluster the shipper inserts into the Distributed table, which splits the batch by
# cityHash64(device_id): the same rows in the same order give every shard the same sub-block, and a
# foreground (synchronous) insert forwards it, with this query's settings and so the token, straight to a
# replica of that shard, whose Replicated table deduplicates it against the shard's log in Keeper. With the
# default background insert the rows would be queued on the receiving node and re-batched with other
# inserts, so a retry could not be recognised (ops/README.md, "Dedup on a cluster"). No effect on one node.
INSERT_SETTINGS: dict[str, int] = {"insert_deduplicate": 1, "distributed_foreground_insert": 1}


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a batch's build and insert.

    A batch allocates a few hundred thousand row tuples and lists that live until its insert; each
    allocation counts towards a collection, and every collection walks all of them again (measured: about a
    quarter of the storage process's row-building CPU). They hold no reference cycles, so refcounting frees
    them; the caller drops the rows before leaving this block so the collector never has to walk them.
    Whoever found it running starts it again (threads may overlap: at worst a collection comes early).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class RowsNotBuilt(Exception):
    """Some records of a batch cannot be turned into rows: (index in the batch, error type, message) each.

    Raised before anything is inserted, so the shipper can set those records aside durably first and
    ship the rest (gateway/shipping/quarantine.py).
    """

    def __init__(self, failures: list[tuple[int, str, str]]) -> None:
        super().__init__(failures)  # args alone rebuild it: it crosses the storage process's pipe
        self.failures = failures


BuiltTables = dict[str, TableRows | StagedReceipts]


def build_tables(
    raw: list[bytes], pii: PiiKeyRing | None, *, stage_schema: Path | None = None
) -> BuiltTables:
    """The rows of serialized journal records, by table (CPU work, the content findings a good part of it:
    docs/performance.md).

    stage_schema: accepted receipts are staged for ClickHouse to build their rows (far cheaper),
    under the stage table's name, read with this schema file (gateway/storage/staged_rows.py). When the
    batch fails, each record is built alone to name the ones that fail (RowsNotBuilt); the normal case
    pays for one try around the batch, nothing per record.
    """
    stage = StagedReceipts(raw, stage_schema) if stage_schema else None
    try:
        tables: BuiltTables = dict(build_rows(map(pb.JournalRecord.FromString, raw), pii, stage))
    except Exception:
        failures = unbuildable(raw, pii)
        if not failures:
            raise  # not any one record's fault (memory, say): the shipper retries the batch
        raise RowsNotBuilt(failures) from None
    if stage:
        tables[STAGE_TABLE] = stage
    return tables


_KIND = COLUMNS["anomalies"].index("kind")


@dataclass(frozen=True)
class InsertCounts:
    """What inserting a batch's tables stores: rows by table (the stage table's by the tables its views
    write), and anomaly rows by kind (tracegate_anomalies_total)."""

    rows: dict[str, int]
    anomalies: dict[str, int]

    @classmethod
    def of(cls, tables: BuiltTables) -> InsertCounts:
        """Count what these tables hold."""
        rows: dict[str, int] = {}
        kinds: dict[str, int] = {}
        for table, built in tables.items():
            if isinstance(built, StagedReceipts):
                by_table, by_kind = built.counts(), built.anomaly_kinds
            else:
                by_table = {table: len(built)}
                by_kind = Counter(row[_KIND] for row in built.rows) if table == "anomalies" else {}
            for counts, add in ((rows, by_table), (kinds, by_kind)):
                for name, count in add.items():
                    counts[name] = counts.get(name, 0) + count
        return cls(rows, kinds)


def unbuildable(raw: list[bytes], pii: PiiKeyRing | None) -> list[tuple[int, str, str]]:
    """The records whose rows cannot be built alone: (index, error type, message) each."""
    failures = []
    for index, record in enumerate(raw):
        try:
            build_rows([pb.JournalRecord.FromString(record)], pii)
        except Exception as exc:
            failures.append((index, type(exc).__name__, str(exc)[:500]))
    return failures


# The columns naming the rows that always land together in a table: one insert puts them in one part
# (one partition, one shard), so a table holds all of them or none. A re-sent range inserts only the
# groups a table lacks (insert_missing).
LANDING_KEYS: dict[str, tuple[str, ...]] = {
    "events": ("device_id", "seq"),
    "receipts": ("device_id", "seq"),
    "receipt_lines": ("device_id", "seq"),
    "shifts": ("device_id", "seq"),
    "receipt_buyers": ("device_id", "seq"),
    "rejections": ("device_id", "seq", "received_at"),
    "anomalies": ("device_id", "seq", "accepted", "detected_at"),
    "code_events": ("device_id", "seq", "kind", "received_at", "line", "cis"),  # sharded by cis
    "ofd_exchanges": ("ofd_id", "number"),  # an OFD register's exchange: no event, no seq
}
_TIMES = frozenset(("received_at", "detected_at"))  # DateTime64(3) columns, ms in the rows
# A landing group is looked up by its first two keys, of these types.
_KEY_TYPES = {"device_id": "String", "seq": "UInt64", "ofd_id": "UInt32", "number": "UInt64"}


def insert_missing(client: Any, database: str, tables: BuiltTables, tokens: dict[str, str]) -> BuiltTables:
    """Insert, table by table, only the rows whose landing group the table does not hold yet; returns
    what was inserted.

    For a range that may have landed before (an attempt whose answer never came, a restart with the range
    pending), where its first tokens cannot be trusted: ClickHouse's deduplication log is not fsynced
    with the parts (a power cut can keep a part and lose its token, or the reverse) and forgets tokens
    past its window. What the tables hold can be trusted, so the tokens here must be new ones.
    """
    inserted: BuiltTables = {}
    for table, rows in tables.items():
        if not isinstance(rows, TableRows):
            raise TypeError(f"{table}: a re-sent range is built in Python, never staged")
        present = _landed(client, database, rows)
        names = COLUMNS[table]
        at = [names.index(name) for name in LANDING_KEYS[table]]
        missing = TableRows(table)
        missing.rows = [row for row in rows.rows if tuple(row[i] for i in at) not in present]
        if missing.rows:
            inserted[table] = missing
    insert_tables(client, database, inserted, tokens)
    return inserted


def _landed(client: Any, database: str, rows: TableRows) -> set[tuple[Any, ...]]:
    """The landing groups of these rows that the table holds already."""
    names = COLUMNS[rows.table]
    keys = LANDING_KEYS[rows.table]
    first, second = names.index(keys[0]), names.index(keys[1])
    pairs = sorted({(row[first], row[second]) for row in rows.rows})
    if not pairs:
        return set()
    selected = ", ".join(f"toUnixTimestamp64Milli({k})" if k in _TIMES else k for k in keys)
    pair_type = f"Array(Tuple({_KEY_TYPES[keys[0]]}, {_KEY_TYPES[keys[1]]}))"
    result = client.query(
        f"SELECT DISTINCT {selected} FROM {database}.{rows.table} "
        f"WHERE ({keys[0]}, {keys[1]}) IN {{pairs:{pair_type}}}",
        parameters={"pairs": pairs},
    )
    return {tuple(found) for found in result.result_rows}


def insert_tables(client: Any, database: str, tables: BuiltTables, tokens: dict[str, str]) -> None:
    """One columnar insert per table, deduplicated by tokens[table] (the same rows resent are dropped)."""
    for table, rows in tables.items():
        settings = INSERT_SETTINGS | {"insert_deduplication_token": tokens[table]}
        if isinstance(rows, StagedReceipts):
            rows.insert(client, database, settings)
            continue
        names = rows.column_names()
        try:
            client.insert(
                rows.table,
                rows.data(),
                column_names=names,
                database=database,
                column_types=_column_types(client, database, rows.table, names),
                column_oriented=True,
                settings=settings,
            )
        except Exception:
            with contextlib.suppress(TypeError):
                _COLUMN_TYPES.pop(client, None)  # a table may have changed under us: asked again on the retry
            raise


# Without column types, clickhouse-connect runs DESCRIBE TABLE before every insert (about 1 ms of chDB CPU,
# five times a batch). A table's columns are fixed while the gateway ships (migrations run at start-up), so
# they are asked once per client; a failed insert forgets them.
_COLUMN_TYPES: weakref.WeakKeyDictionary[Any, dict[tuple[str, str, tuple[str, ...]], Any]] = (
    weakref.WeakKeyDictionary()
)


def _column_types(client: Any, database: str, table: str, names: list[str]) -> Any:
    try:
        known = _COLUMN_TYPES.setdefault(client, {})
    except TypeError:  # a client that cannot be weakly referenced: clickhouse-connect describes the table
        return None
    key = (database, table, tuple(names))
    if key not in known:
        known[key] = client.create_insert_context(table, names, database=database).column_types
    return known[key]

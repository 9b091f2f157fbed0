"""ClickHouse side of marking codes: registry inserts (idempotent per chunk) and the status index load."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import numpy as np

from gateway.codes.registry_file import RegistryRow
from gateway.codes.status_index import CIS_KEY_SQL, STATUS_CODE, StatusIndex, cis_key
from gateway.storage.client import Client

REGISTRY_COLUMNS = (
    "cis", "gtin", "owner_tin", "product_group", "status", "expires_on", "raw_code", "imported_at", "version",
)
_KEY = CIS_KEY_SQL.format(column="cis")


def chunk_token(rows: Sequence[RegistryRow], version: int) -> str:
    """Deterministic dedup token of one import chunk: the same rows of the same import are inserted once."""
    digest = hashlib.sha256(str(version).encode())
    for row in rows:
        digest.update(json.dumps(row.to_json(), sort_keys=True).encode() + b"\n")
    return f"registry:{digest.hexdigest()}"


def insert_registry_rows(client: Client, database: str, rows: Sequence[RegistryRow], version: int) -> str:
    """Insert one chunk into code_registry with its dedup token; returns the token."""
    token = chunk_token(rows, version)
    data = [
        [r.cis for r in rows], [r.gtin for r in rows], [r.owner_tin for r in rows],
        [r.product_group for r in rows], [r.status for r in rows], [r.expires_on for r in rows],
        [r.raw_code for r in rows], [version] * len(rows), [version] * len(rows),
    ]
    client.insert(
        "code_registry", data, column_names=list(REGISTRY_COLUMNS), database=database,
        column_oriented=True, settings={"insert_deduplication_token": token},
    )
    return token


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _array(values: Sequence[str]) -> str:
    return "[" + ",".join(_literal(v) for v in values) + "]"


def _numbers(count: int, start: int = 0) -> str:
    return "[" + ",".join(str(i) for i in range(start, start + count)) + "]"


def load_status_index(client: Client, database: str) -> StatusIndex:
    """Build the index: every registry code (latest version), then each code's last sale or return."""
    index = StatusIndex()
    owners = [""] + [str(r[0]) for r in client.query(
        f"SELECT DISTINCT owner_tin FROM {database}.code_registry WHERE owner_tin != ''").result_rows]
    statuses = [name for name in STATUS_CODE if name]
    registry = f"{database}.code_registry FINAL"
    table = client.query_arrow(
        f"SELECT {_KEY} AS k, toUInt8(transform(status, {_array(statuses)}, "
        f"{_numbers(len(statuses), 1)}, 0)) AS s, "
        f"toUInt32(transform(owner_tin, {_array(owners[1:])}, {_numbers(len(owners) - 1, 1)}, 0)) AS o, "
        f"ifNull(toUInt16(expires_on), 0) AS e FROM {registry}"
    ) if len(owners) > 1 else client.query_arrow(
        f"SELECT {_KEY} AS k, toUInt8(transform(status, {_array(statuses)}, "
        f"{_numbers(len(statuses), 1)}, 0)) AS s, toUInt32(0) AS o, "
        f"ifNull(toUInt16(expires_on), 0) AS e FROM {registry}"
    )
    columns = [table.column(i).to_numpy() for i in range(4)]
    index.load_base(columns[0], columns[1], columns[2], columns[3], owners)
    # Two cis with one key: kept apart by their full cis (found exactly here, where every cis is at hand).
    shared = client.query(
        f"SELECT cis, status, owner_tin, ifNull(toUInt16(expires_on), 0) FROM {registry} WHERE {_KEY} IN "
        f"(SELECT {_KEY} AS k FROM {registry} GROUP BY k HAVING count() > 1)").result_rows
    for cis, status, owner, expiry in shared:
        index.add_ambiguous(str(cis), (STATUS_CODE[str(status)], index.owners.intern(str(owner)),
                                       int(expiry), 1, 0))
    _load_moves(client, database, index)
    return index


def _load_moves(client: Client, database: str, index: StatusIndex) -> None:
    # Arrival order is the order the gateway judged in, so the last arrival is the current state.
    latest = "(received_at, event_time, seq)"
    moves = (f"SELECT cis, argMax(kind, {latest}) = 'sale' AS sold, "
             f"argMax(concat(seller_tin, '\\x1f', store_id), {latest}) AS store FROM {database}.code_events "
             "WHERE kind IN ('sale', 'return') AND cis != '' GROUP BY cis")
    stores = [str(r[0]) for r in client.query(f"SELECT DISTINCT store FROM ({moves})").result_rows]
    if not stores:
        return
    table = client.query_arrow(
        f"SELECT {_KEY} AS k, sold, toUInt32(transform(store, {_array(stores)}, {_numbers(len(stores))}, 0)) "
        f"FROM ({moves})"
    )
    keys, sold, store_ids = (table.column(i).to_numpy() for i in range(3))
    index.load_moves(keys.astype(np.uint64), sold.astype(bool), store_ids.astype(np.uint32), stores)


__all__ = ["REGISTRY_COLUMNS", "chunk_token", "cis_key", "insert_registry_rows", "load_status_index"]

"""ClickHouse side of following other gateways' code moves: the follow query and the double-sale sweep.

Both read `code_events` by `inserted_at` (set by ClickHouse at insert, migration 0006), so a node that
ships late is read when its rows land, not lost behind a watermark of event or receive times. Subqueries
are GLOBAL: on a cluster a plain IN over a Distributed table inside a query over one is refused
(distributed_product_mode = deny), and `anomalies` is sharded by device, not by cis.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from gateway.storage.client import Client
from gateway.storage.columns import ANOMALIES
from gateway.storage.writer import INSERT_SETTINGS
from gateway.wire import pb

# The order of a code's moves, as at start (code_registry_store._load_moves): arrival order wins.
_ORDER = "received_at, event_time, seq"
_LATEST = f"({_ORDER})"
_MOVES = "kind IN ('sale', 'return') AND cis != ''"
_SINCE = "inserted_at >= fromUnixTimestamp64Milli({since_ms:Int64}, 'UTC')"
_UNTIL = "inserted_at < fromUnixTimestamp64Milli({until_ms:Int64}, 'UTC')"
Move = tuple[str, bool, str, str, bool, int]  # cis, sold, seller_tin, store_id, mine, move_id
_ANOMALY_ROW = ANOMALIES.row_builder()


@dataclass(frozen=True)
class LatestMoves:
    """The latest sale or return of every code another gateway moved since a time, as columns."""

    table: Any  # Arrow: cis, sold, seller_tin, store_id, mine, move_id (strings read only when selected)
    sold: npt.NDArray[np.bool_]  # the latest move is a sale (else a return)
    mine: npt.NDArray[np.bool_]  # that latest move was stored by the asking gateway itself
    move_id: npt.NDArray[np.uint64]  # which row it is (a hash of device, seq, line, kind)
    newest_ms: int  # the newest inserted_at among the rows read (0: none)

    def __len__(self) -> int:
        return len(self.sold)

    def batches(self, wanted: npt.NDArray[np.bool_], size: int) -> Iterator[list[Move]]:
        """The wanted rows as Python tuples, size at a time (each batch converted only when asked for)."""
        chosen = self.table.filter(wanted)
        for start in range(0, chosen.num_rows, size):
            part = chosen.slice(start, size)
            yield list(zip(*(part.column(i).to_pylist() for i in range(6)), strict=True))


def _moves_of(database: str, columns: str, candidates: str, recent_from: str) -> str:
    """The moves of the candidate codes (rows `cis, received_at` of code_events) that can matter to them.

    Rows inserted from recent_from on (the minmax index reads recent parts only); older rows only for codes
    whose candidate row was received before recent_from (a node that shipped late: its row's neighbours in
    arrival order may have landed long ago). Reading every row of every candidate instead would read
    nearly every granule of a big table at each round: rows are ordered by cis, candidates are random.
    """
    start = f"fromUnixTimestamp64Milli({recent_from}, 'UTC')"
    late = f"SELECT cis FROM ({candidates}) WHERE received_at < {start}"
    table = f"{database}.code_events"
    return (f"SELECT {columns} FROM {table} WHERE {_MOVES} AND inserted_at >= {start} "
            f"AND cis GLOBAL IN (SELECT cis FROM ({candidates})) "
            f"UNION ALL SELECT {columns} FROM {table} WHERE {_MOVES} AND inserted_at < {start} "
            f"AND cis GLOBAL IN ({late})")


def latest_moves(client: Client, database: str, gateway_id: str, since_ms: int) -> LatestMoves:
    """Each code another gateway moved (rows inserted since since_ms): its latest move over all gateways.

    One query. A code's latest move is taken over every gateway's rows (those _moves_of reads), so a late
    row of another node older than a later move of this node's does not win (the rule of the load at start).
    """
    touched = (f"SELECT cis, received_at FROM {database}.code_events WHERE {_MOVES} AND {_SINCE} "
               "AND gateway_id != {gateway_id:String}")
    columns = ("cis, kind, seller_tin, store_id, gateway_id, device_id, seq, line, event_time, received_at, "
               "inserted_at")
    sql = (
        f"SELECT cis, argMax(kind, {_LATEST}) = 'sale' AS sold, argMax(seller_tin, {_LATEST}) AS seller, "
        f"argMax(store_id, {_LATEST}) AS store, "
        f"argMax(gateway_id, {_LATEST}) = {{gateway_id:String}} AS mine, "
        f"cityHash64(argMax((device_id, seq, line, kind), {_LATEST})) AS move_id, "
        f"toUnixTimestamp64Milli(max(inserted_at)) AS newest "
        f"FROM ({_moves_of(database, columns, touched, '{since_ms:Int64}')}) GROUP BY cis"
    )
    table = client.query_arrow(sql, parameters={"gateway_id": gateway_id, "since_ms": since_ms})
    sold, mine, move_id, newest = (table.column(i).to_numpy() for i in (1, 4, 5, 6))
    return LatestMoves(
        table=table, sold=sold.astype(bool), mine=mine.astype(bool), move_id=move_id.astype(np.uint64),
        newest_ms=int(newest.max()) if len(newest) else 0,
    )


def _double_sales_sql(database: str) -> str:
    candidates = (f"SELECT cis, received_at FROM {database}.code_events "
                  f"WHERE kind = 'sale' AND cis != '' AND {_SINCE} AND {_UNTIL}")
    previous = ", ".join(f"lagInFrame({column}) OVER w AS previous_{column}"
                         for column in ("kind", "gateway_id", "seller_tin", "store_id"))
    columns = ("cis, kind, verdict, gateway_id, seller_tin, store_id, device_id, seq, line, event_time, "
               "received_at, inserted_at")
    moves = _moves_of(database, columns, candidates, "{history_from_ms:Int64}")
    # A sale received before every candidate was judged by an earlier sweep; one received after: every
    # anomaly on it (ingest's, at its receive time, or a sweep's, later) was detected from `oldest` on.
    return (
        f"WITH (SELECT min(received_at) FROM ({candidates})) AS oldest "
        "SELECT cis, event_time, seller_tin, store_id, device_id, seq, line, previous_gateway_id, "
        "previous_seller_tin, previous_store_id FROM ("
        f"SELECT *, {previous} FROM ({moves}) "
        f"WINDOW w AS (PARTITION BY cis ORDER BY {_ORDER}, line ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)"
        ") WHERE kind = 'sale' AND previous_kind = 'sale' AND gateway_id != previous_gateway_id "
        f"AND gateway_id != '' AND verdict != 'already_sold' AND received_at >= oldest AND {_UNTIL} "
        f"AND (cis, device_id, seq, line) GLOBAL NOT IN (SELECT cis, device_id, seq, toUInt32(line) "
        f"FROM {database}.anomalies WHERE kind = 'code_sold_twice' AND detected_at >= oldest "
        f"AND cis GLOBAL IN (SELECT cis FROM ({candidates}))) "
        "ORDER BY cis, device_id, seq, line"
    )


def sweep_double_sales(client: Client, database: str, since_ms: int, until_ms: int, now_ms: int,
                       history_ms: int) -> int:
    """Flag sales of a code already sold on another gateway that nobody flagged; returns how many.

    Looks at codes with a sale inserted in [since_ms, until_ms), and their moves inserted from history_ms
    before since_ms on (all of them for a sale received before that). A sale whose previous move (arrival
    order) was a sale on another gateway, judged without that knowledge (verdict not already_sold) and
    without a code_sold_twice anomaly yet, gets one (and code_clone when the seller or store differs), as
    the ingest stage would have written. Idempotent: a flagged sale is not flagged again by a later sweep,
    and two nodes inserting the same findings at once share one dedup token, so only one insert is kept.
    """
    params = {"since_ms": since_ms, "until_ms": until_ms, "history_from_ms": since_ms - history_ms}
    found = client.query(_double_sales_sql(database), parameters=params).result_rows
    if not found:
        return 0
    rows: list[tuple[Any, ...]] = []
    token = hashlib.sha256()
    for cis, event_time, seller, store, device, seq, line, other_gateway, other_seller, other_store in found:
        token.update(f"{cis}\x1f{device}\x1f{seq}\x1f{line}\n".encode())
        # The earlier seller goes in its own columns, never into detail (a retailer reads the detail).
        detail = (f"sold before (gateway {other_gateway}), not returned since; found by the cluster sweep: "
                  "both gateways accepted the sale before either knew of the other")
        keys = (seller, store, device, seq, event_time, now_ms)  # columns.KEYS
        other = {"other_seller_tin": other_seller, "other_store_id": other_store}
        rows.append(_ANOMALY_ROW(*keys, pb.Finding(kind="code_sold_twice", line=line, cis=cis, detail=detail,
                                                  **other), True))
        if (other_seller, other_store) != (seller, store):
            clone = pb.Finding(kind="code_clone", line=line, cis=cis, **other, detail=(
                "the same code was sold before by another seller or store; found by the cluster sweep"))
            rows.append(_ANOMALY_ROW(*keys, clone, True))
    client.insert(
        "anomalies", rows, column_names=list(ANOMALIES.names), database=database,
        settings=INSERT_SETTINGS | {"insert_deduplication_token": f"code-sweep:{token.hexdigest()}"},
    )
    return len(found)


def sweeping_gateway(client: Client, database: str, window_s: int) -> str:
    """The gateway that sweeps: the smallest id among those that stored code rows in the last window_s."""
    rows = client.query(
        f"SELECT min(gateway_id) FROM {database}.code_events WHERE gateway_id != '' "
        "AND inserted_at >= now64(3) - toIntervalSecond({window_s:UInt32})",
        parameters={"window_s": window_s},
    ).result_rows
    return str(rows[0][0]) if rows else ""


__all__ = ["LatestMoves", "Move", "latest_moves", "sweep_double_sales", "sweeping_gateway"]

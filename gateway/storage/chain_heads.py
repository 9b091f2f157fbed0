"""Chain state in storage: the newest event per device and stored envelopes (events), and on a cluster
the head each device's next event must follow (chain_heads in Keeper, moved by compare-and-set)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gateway.ingest.chain import HeadMove
from gateway.storage.code_follow import ANOMALY_COLUMNS
from gateway.storage.writer import INSERT_SETTINGS


@dataclass(frozen=True)
class ChainHead:
    """The newest accepted event of one device, as stored."""

    device_id: str
    seq: int
    envelope_hash: bytes
    fiscal_sign: str
    event_time_ms: int
    # The head's event bytes when it is a gap notice (else b""): the seq after it is past the declared gap.
    gap_event: bytes = b""
    next_seq: int = 0  # when known (chain_heads keeps it); 0: seq + 1, or past gap_event's gap
    gateway_id: str = ""  # the node that set it (chain_heads only)


# The head's event only when it is a gap notice: a register's head is usually a receipt, not worth reading.
_GAP_EVENT = "argMax(if(kind = 'gap_notice', event, ''), seq)"


@dataclass(frozen=True)
class StoredEnvelope:
    """An accepted envelope read back from storage (to answer a resend or detect a fork)."""

    device_id: str
    seq: int
    prev_hash: bytes
    event: bytes
    signature: bytes
    key_id: str
    envelope_hash: bytes
    fiscal_sign: str
    event_time_ms: int
    received_ms: int


def load_chain_heads(client: Any, database: str) -> list[ChainHead]:
    """The head (highest seq) of every device's chain in the events table."""
    sql = (
        "SELECT device_id, max(seq), argMax(envelope_hash, seq) AS head_hash, argMax(fiscal_sign, seq), "
        f"argMax(toUnixTimestamp64Milli(event_time), seq), {_GAP_EVENT} AS gap_event "
        f"FROM {database}.events GROUP BY device_id"
    )
    formats = {"head_hash": "bytes", "gap_event": "bytes"}
    return [
        ChainHead(str(r[0]), int(r[1]), bytes(r[2]), str(r[3]), int(r[4]), bytes(r[5]))
        for r in client.query(sql, column_formats=formats).result_rows
    ]


def load_chain_head(
    client: Any, database: str, device_id: str, seller_tin: str | None = None
) -> ChainHead | None:
    """The stored head of one device's chain, or None if storage holds no event of it.

    For a node that takes a device over from another (the balancer moved it): its memory may hold no head,
    or an older one. Knowing the seller lets ClickHouse use the (seller_tin, device_id, seq) key; on a
    cluster the Distributed table reads the one shard that holds the device (sharded by its id).
    """
    where = "device_id = {device_id:String}"
    parameters: dict[str, Any] = {"device_id": device_id}
    if seller_tin is not None:
        where += " AND seller_tin = {seller_tin:String}"
        parameters["seller_tin"] = seller_tin
    sql = (
        "SELECT max(seq) AS head_seq, argMax(envelope_hash, seq) AS head_hash, "
        "argMax(fiscal_sign, seq) AS head_sign, argMax(toUnixTimestamp64Milli(event_time), seq) AS head_ms, "
        f"count() AS n, {_GAP_EVENT} AS gap_event FROM {database}.events WHERE {where}"
    )
    formats = {"head_hash": "bytes", "gap_event": "bytes"}
    rows = client.query(sql, parameters=parameters, column_formats=formats).result_rows
    if not rows or int(rows[0][4]) == 0:
        return None
    seq, env_hash, sign, event_ms, _, gap_event = rows[0]
    return ChainHead(device_id, int(seq), bytes(env_hash), str(sign), int(event_ms), bytes(gap_event))


def load_envelopes(
    client: Any, database: str, device_id: str, seqs: Iterable[int]
) -> dict[int, StoredEnvelope]:
    """Stored envelopes of one device by seq (missing seqs are absent from the answer)."""
    wanted = sorted({int(s) for s in seqs})
    if not wanted:
        return {}
    sql = (
        "SELECT seq, prev_hash, event, signature, key_id, envelope_hash, fiscal_sign, "
        "toUnixTimestamp64Milli(event_time) AS event_ms, toUnixTimestamp64Milli(received_at) AS received_ms "
        f"FROM {database}.events WHERE device_id = {{device_id:String}} AND seq IN {{seqs:Array(UInt64)}} "
        "ORDER BY seq LIMIT 1 BY seq"
    )
    result = client.query(
        sql,
        parameters={"device_id": device_id, "seqs": wanted},
        column_formats={"event": "bytes", "signature": "bytes"},
    )
    out: dict[int, StoredEnvelope] = {}
    for seq, prev_hash, event, signature, key_id, env_hash, fiscal_sign, event_ms, received_ms in (
        result.result_rows
    ):
        out[int(seq)] = StoredEnvelope(
            device_id, int(seq), bytes(prev_hash), bytes(event), bytes(signature), str(key_id),
            bytes(env_hash), str(fiscal_sign), int(event_ms), int(received_ms),
        )
    return out


# Strict: an insert of a device that has a head fails, and an update fails unless it is atomic (Keeper's
# versioned write), so two nodes cannot both move one head from the same value.
KEEPER_STRICT = {"keeper_map_strict_mode": 1}


def load_keeper_head(client: Any, database: str, device_id: str) -> ChainHead | None:
    """The head in chain_heads (Keeper: every node's accepts, shipped or not), or None."""
    rows = client.query(
        f"SELECT seq, envelope_hash, fiscal_sign, next_seq, gateway_id FROM {database}.chain_heads "
        "WHERE device_id = {device_id:String}",
        parameters={"device_id": device_id}, column_formats={"envelope_hash": "bytes"},
    ).result_rows
    if not rows:
        return None
    seq, envelope_hash, fiscal_sign, next_seq, gateway_id = rows[0]
    return ChainHead(device_id, int(seq), bytes(envelope_hash), str(fiscal_sign), 0, next_seq=int(next_seq),
                     gateway_id=str(gateway_id))


def move_heads(client: Any, database: str, moves: list[HeadMove], gateway_id: str, now_ms: int) -> list[str]:
    """Compare-and-set each device's head in chain_heads; returns the devices whose head another node
    moved first (their batch must not be acked: the chain went on elsewhere).

    A move from the head this node judged against succeeds, and so does one to the head it wants when this
    node set it (its earlier attempt whose journal write failed, resent); another node that set the same
    head accepted the same envelope first. A device without a row gets one (a strict insert).
    """
    lost = []
    for move in moves:
        current = load_keeper_head(client, database, move.device_id)
        values = {
            "device_id": move.device_id, "seq": move.seq, "hash": move.envelope_hash,
            "sign": move.fiscal_sign, "next": move.next_seq, "gateway": gateway_id, "now": now_ms,
        }
        if current is not None and (current.seq, current.envelope_hash) == (move.seq, move.envelope_hash):
            if current.gateway_id != gateway_id:
                lost.append(move.device_id)
            continue
        if current is None:  # the device's first accept since chain_heads exists
            try:
                client.command(
                    f"INSERT INTO {database}.chain_heads VALUES ({{device_id:String}}, {{seq:UInt64}}, "
                    "{hash:String}, {sign:String}, {next:UInt64}, {gateway:String}, {now:Int64})",
                    parameters=values, settings=KEEPER_STRICT,
                )
            except Exception:  # another node inserted first
                lost.append(move.device_id)
            continue
        if (current.seq, current.envelope_hash) != (move.from_seq, move.from_hash):
            lost.append(move.device_id)
            continue
        client.command(
            f"ALTER TABLE {database}.chain_heads UPDATE seq = {{seq:UInt64}}, "
            "envelope_hash = {hash:String}, fiscal_sign = {sign:String}, next_seq = {next:UInt64}, "
            "gateway_id = {gateway:String}, updated_ms = {now:Int64} WHERE device_id = {device_id:String} "
            "AND seq = {from_seq:UInt64} AND envelope_hash = {from_hash:String}",
            parameters=values | {"from_seq": move.from_seq, "from_hash": move.from_hash},
            settings=KEEPER_STRICT,
        )
        after = load_keeper_head(client, database, move.device_id)  # 0 rows updated raise nothing
        if after is None or (after.seq, after.envelope_hash) != (move.seq, move.envelope_hash):
            lost.append(move.device_id)
    return lost


# An event accepted by two nodes is found by the sweep at most this long after the second copy landed …
ACCEPTANCE_LOOKBACK_MS = 24 * 3600 * 1000  # … and the first copy may have landed this long before it.


def sweep_double_acceptances(client: Any, database: str, since_ms: int, now_ms: int) -> list[tuple[str, int]]:
    """(device, seq) of every event stored more than once whose last copy was received since since_ms, each
    flagged once with a double_acceptance anomaly: its rows are in every table as many times.

    Two nodes can accept one event when one took a device over from a node that had acked it but not yet
    shipped it, or when Keeper was unreachable; every copy has its own journal id and dedup tokens, so
    ClickHouse keeps all of them. Idempotent: one dedup token per event, so later sweeps (and other nodes
    sweeping at once) add nothing.
    """
    rows = client.query(
        "SELECT device_id, seq, any(seller_tin), any(store_id), max(toUnixTimestamp64Milli(event_time)), "
        "count(), groupUniqArray(gateway_id), uniqExact(envelope_hash) "
        f"FROM {database}.events WHERE received_at >= fromUnixTimestamp64Milli({{from_ms:Int64}}) "
        "GROUP BY device_id, seq "
        "HAVING count() > 1 AND max(received_at) >= fromUnixTimestamp64Milli({since_ms:Int64})",
        parameters={"from_ms": since_ms - ACCEPTANCE_LOOKBACK_MS, "since_ms": since_ms},
    ).result_rows
    found = []
    for device_id, seq, seller_tin, store_id, event_ms, copies, gateways, hashes in rows:
        detail = (f"accepted {copies} times, by gateways {', '.join(sorted(gateways))}"
                  + ("" if hashes == 1 else f", {hashes} different envelopes")
                  + ": every table holds its rows that many times; count one copy")
        row = ["double_acceptance", now_ms, int(event_ms), seller_tin, store_id, device_id, int(seq), True, 0,
               "", detail, "", ""]
        client.insert(
            "anomalies", [row], column_names=list(ANOMALY_COLUMNS), database=database,
            settings=INSERT_SETTINGS | {"insert_deduplication_token": f"double-acceptance:{device_id}:{seq}"},
        )
        found.append((str(device_id), int(seq)))
    return found

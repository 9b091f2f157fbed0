"""Read back chain state from the events table: the newest event per device, and stored envelopes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


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

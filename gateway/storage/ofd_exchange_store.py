"""The ofd_exchanges table: each OFD register's newest journalled exchange, for a gateway's start."""

from __future__ import annotations

from typing import Any

from gateway.wire import pb


def load_last_exchanges(client: Any, database: str) -> list[pb.OfdExchangeLog]:
    """Each register's newest exchange (by number) as journalled: sealed (gateway/ofd/exchange.py)."""
    # argMax rather than FINAL: correct before background merges and on every topology.
    sql = (
        "SELECT ofd_id, max(number), argMax(toUnixTimestamp64Milli(answered_at), number), "
        f"argMax(command, number), argMax(sealed, number) AS sealed FROM {database}.ofd_exchanges "
        "GROUP BY ofd_id"
    )
    return [
        pb.OfdExchangeLog(ofd_id=int(r[0]), number=int(r[1]), answered_ms=int(r[2]), command=int(r[3]),
                          sealed=bytes(r[4]))
        for r in client.query(sql, column_formats={"sealed": "bytes"}).result_rows
    ]

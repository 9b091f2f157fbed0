"""ClickHouse's active parts per table (the parts gauges of /metrics): too many means inserts too small."""

from __future__ import annotations

import re

from gateway.storage.client import Storage


def parts_query(cluster: str) -> str:
    """Active parts per table and in its fullest partition (param {db:String}); on a cluster every server."""
    if cluster and not re.fullmatch(r"[A-Za-z0-9_.-]+", cluster):
        raise ValueError(f"unusable cluster name {cluster!r}")
    source = f"clusterAllReplicas('{cluster}', system.parts)" if cluster else "system.parts"
    return (
        "SELECT table, sum(n), max(n) FROM (SELECT hostName() AS host, table, partition_id, count() AS n "
        f"FROM {source} WHERE active AND database = {{db:String}} GROUP BY host, table, partition_id) "
        "GROUP BY table ORDER BY table"
    )


async def parts_by_table(storage: Storage, cluster: str) -> list[tuple[str, int, int]]:
    """(table, active parts, parts in its fullest partition) for every table of the database."""
    sql, database = parts_query(cluster), storage.database
    rows = await storage.run(lambda c: c.query(sql, parameters={"db": database}).result_rows)
    return [(str(table), int(parts), int(most)) for table, parts, most in rows]

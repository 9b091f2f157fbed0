"""Dedup tokens of shipped rows: ClickHouse drops a resent batch range, table by table.

A token names the journal, the batch's range of positions and the table; a quarantined record replayed
later has tokens of its own (never those of a shipped batch, which ClickHouse would drop as a resend).
"""

from __future__ import annotations


def dedup_token(journal_id: str, start: int, end: int, table: str) -> str:
    """Deterministic insert_deduplication_token of one table's rows of one batch range."""
    return f"{journal_id}:{start}-{end}:{table}"


def replay_token(journal_id: str, start: int, end: int, table: str) -> str:
    """The token of a replayed quarantined record's rows of one table ([start, end): its journal range)."""
    return f"{dedup_token(journal_id, start, end, table)}:replay"

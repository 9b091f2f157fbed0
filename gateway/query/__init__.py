"""The read side: queries over ClickHouse for verification, summaries, traces and reconciliation."""

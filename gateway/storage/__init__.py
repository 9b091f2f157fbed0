"""The ClickHouse side: one client thread, numbered migrations, row building and error classification."""

"""From the journal to ClickHouse: the shipper loop, its checkpoint, dedup tokens and the quarantine."""

"""The gateway's metrics: what an operator watches (names used by ops/grafana/tracegate.json)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.observability.prometheus import Counter, Gauge, Histogram, Registry

if TYPE_CHECKING:
    from gateway.service import GatewayService

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 10, 100, 1_000, 5_000, 10_000, 50_000, 100_000)
LOOP_LAG_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class GatewayMetrics:
    """Every metric of one gateway process; stage counters are copied in at scrape time by collect()."""

    def __init__(self) -> None:
        self.registry = Registry()
        add = self.registry.add
        self.events = Counter(
            "tracegate_events_total", "Envelopes answered, by status (accepted, duplicate, rejected) and "
            "error code (empty unless rejected).", ["status", "error_code"])
        self.unrecorded_refusals = Counter(
            "tracegate_refusals_unrecorded_total", "Refusals not proven to come from the device they name "
            "(bad signature, unknown device or key, …) answered but not journalled: over their sender's "
            "budget (TRACEGATE_RATE_UNPROVEN_PER_S). A rise is someone sending envelopes in others' names.")
        self.anomalies = Counter(
            "tracegate_anomalies_total", "Anomaly rows stored by the shipper (findings), by kind.", ["kind"])
        self.request_seconds = Histogram(
            "tracegate_http_request_duration_seconds", "HTTP request latency, by route, method and status.",
            LATENCY_BUCKETS, ["route", "method", "status"])
        self.journal_unshipped = Gauge(
            "tracegate_journal_unshipped_bytes", "Journal bytes not yet confirmed by ClickHouse.")
        self.journal_budget = Gauge(
            "tracegate_journal_budget_bytes", "Unshipped bytes allowed before back-pressure (503).")
        self.journal_lag_records = Gauge(
            "tracegate_journal_lag_records", "Journal records not yet shipped to ClickHouse.")
        self.shipper_batches = Counter("tracegate_shipper_batches_total", "Batches ClickHouse confirmed.")
        self.shipper_records = Counter("tracegate_shipper_records_total", "Journal records shipped.")
        self.shipper_rows = Counter("tracegate_shipper_rows_total", "Rows inserted, by table.", ["table"])
        self.shipper_errors = Counter("tracegate_shipper_errors_total", "Failed shipping attempts (retried).")
        self.shipper_batch_records = Histogram(
            "tracegate_shipper_batch_records", "Journal records per confirmed batch.", BATCH_BUCKETS)
        self.shipper_failing = Gauge(
            "tracegate_shipper_consecutive_failures", "Shipping attempts failed in a row (0 when healthy).")
        self.shipper_last_success = Gauge(
            "tracegate_shipper_last_success_timestamp_seconds", "When ClickHouse last confirmed a batch.")
        self.shipper_quarantined = Counter(
            "tracegate_shipper_quarantined_total",
            "Journal records set aside in the quarantine because their rows could not be built.")
        self.quarantine_records = Gauge(
            "tracegate_quarantine_records", "Journal records in the quarantine now (0 when healthy; "
            "`tracegate quarantine replay` empties it after a fix).")
        self.parts = Gauge(
            "tracegate_clickhouse_active_parts", "Active parts of our tables in ClickHouse.", ["table"])
        self.partition_parts = Gauge(
            "tracegate_clickhouse_max_partition_parts",
            "Active parts in the fullest partition of each table (inserts slow at 1000, fail at 3000).",
            ["table"])
        self.parts_refresh_errors = Counter(
            "tracegate_clickhouse_parts_refresh_errors_total", "Failed reads of system.parts.")
        self.storage_restarts = Counter(
            "tracegate_storage_process_restarts_total",
            "Times the storage process (embedded ClickHouse and row building) died and was started again.")
        self.double_acceptances = Counter(
            "tracegate_double_acceptances_total",
            "Events found stored more than once (accepted by two gateway nodes), each flagged with a "
            "double_acceptance anomaly; with a server only. Should stay 0: alert on any increase.")
        self.acceptance_sweep_failures = Counter(
            "tracegate_acceptance_sweep_failures_total", "Double-acceptance sweeps that failed (retried).")
        self.ready = Gauge("tracegate_ready", "1 when /readyz would answer 200.")
        self.loop_lag = Histogram(
            "tracegate_event_loop_lag_seconds", "How late the event loop ran a timer it set 0.1 s ahead: "
            "the wait of every request behind the work already queued (a busy or blocked loop).",
            LOOP_LAG_BUCKETS)
        for metric in (
            self.events, self.unrecorded_refusals, self.anomalies, self.request_seconds,
            self.journal_unshipped, self.journal_budget, self.journal_lag_records, self.shipper_batches,
            self.shipper_records, self.shipper_rows,
            self.shipper_errors, self.shipper_batch_records, self.shipper_failing, self.shipper_last_success,
            self.shipper_quarantined, self.quarantine_records, self.parts, self.partition_parts,
            self.parts_refresh_errors, self.storage_restarts, self.double_acceptances,
            self.acceptance_sweep_failures, self.ready, self.loop_lag,
        ):
            add(metric)

    def collect(self, service: GatewayService) -> None:
        """Copy the stages' own counts and gauges in (cheap: no I/O)."""
        for key, count in service.pipeline.stats().items():
            status, _, code = key.partition(":")
            self.events.set_total(count, status=status, error_code=code)
        self.unrecorded_refusals.set_total(service.pipeline.unrecorded_refusals)
        shipper: dict[str, Any] = service.shipper.stats()
        for kind, count in shipper["anomalies_by_kind"].items():
            self.anomalies.set_total(count, kind=kind)
        unshipped = service.journal.unshipped_bytes()
        budget = service.settings.journal_budget_bytes
        self.journal_unshipped.set(unshipped)
        self.journal_budget.set(budget)
        if shipper.get("lag_records") is not None:
            self.journal_lag_records.set(shipper["lag_records"])
        self.shipper_batches.set_total(shipper["batches"])
        self.shipper_records.set_total(shipper["records_shipped"])
        for table, rows in shipper["rows_by_table"].items():
            self.shipper_rows.set_total(rows, table=table)
        self.shipper_errors.set_total(shipper.get("errors_total", 0))
        self.shipper_failing.set(shipper["consecutive_failures"])
        self.shipper_quarantined.set_total(shipper["quarantined_total"])
        self.quarantine_records.set(shipper["quarantined"])
        if shipper.get("last_shipped_at_ms"):
            self.shipper_last_success.set(shipper["last_shipped_at_ms"] / 1000)
        self.storage_restarts.set_total(service.storage.process_restarts)
        if service.acceptance_sweep is not None:
            self.double_acceptances.set_total(service.acceptance_sweep.stats.found)
            self.acceptance_sweep_failures.set_total(service.acceptance_sweep.stats.failures)
        # The same rule as /readyz (gateway.http.health).
        self.ready.set(0 if unshipped > 0.9 * budget or shipper.get("last_error") else 1)

    def render(self, service: GatewayService | None) -> str:
        """Collect, then the exposition text."""
        if service is not None:
            self.collect(service)
        return self.registry.render()

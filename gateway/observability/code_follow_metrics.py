"""Metrics of following the other gateways' code moves (on a node whose storage is a ClickHouse server)."""

from __future__ import annotations

from gateway.cluster.code_follow import FollowStats
from gateway.observability.prometheus import Counter, Gauge, Registry


class CodeFollowMetrics:
    """The follower's and the sweep's counters, copied from FollowStats at scrape time."""

    def __init__(self) -> None:
        self.registry = Registry()
        self.lag = Gauge(
            "tracegate_code_follow_lag_seconds", "Seconds since this node last read the code moves of the "
            "other gateways (interval + query time when healthy; grows while ClickHouse cannot be read).")
        self.rounds = Counter("tracegate_code_follow_rounds_total", "Follow rounds that read ClickHouse.")
        self.failures = Counter(
            "tracegate_code_follow_failures_total", "Follow rounds that failed (retried).")
        self.moves = Counter(
            "tracegate_code_follow_moves_total", "Sales and returns of other gateways applied to the index.")
        self.sweeps = Counter("tracegate_code_sweeps_total", "Double-sale sweeps this node ran.")
        self.sweep_failures = Counter("tracegate_code_sweep_failures_total", "Sweeps that failed (retried).")
        self.sweep_findings = Counter(
            "tracegate_code_sweep_findings_total",
            "Sales the sweep flagged code_sold_twice: sold on two gateways inside the follow window.")
        for metric in (self.lag, self.rounds, self.failures, self.moves, self.sweeps, self.sweep_failures,
                       self.sweep_findings):
            self.registry.add(metric)

    def render(self, stats: FollowStats, now_ms: int) -> str:
        """Copy the stats in, then the exposition text."""
        self.lag.set(stats.lag_s(now_ms))
        self.rounds.set_total(stats.rounds)
        self.failures.set_total(stats.failures)
        self.moves.set_total(stats.moves_applied)
        self.sweeps.set_total(stats.sweeps)
        self.sweep_failures.set_total(stats.sweep_failures)
        self.sweep_findings.set_total(stats.sweep_findings)
        return self.registry.render()

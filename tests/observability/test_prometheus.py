"""The Prometheus text exposition: HELP/TYPE lines, label escaping, cumulative histogram buckets."""

from __future__ import annotations

import re

import pytest

from gateway.observability.gateway_metrics import GatewayMetrics
from gateway.observability.prometheus import Counter, Gauge, Histogram, Registry, escape_label_value
from gateway.query.parts import parts_query

# One sample line of the text format: name, optional {labels}, value.
_SAMPLE = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
    r'(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*\})? (-?[0-9.e+]+|\+Inf|-Inf|NaN)$'
)


def _check_exposition(text: str) -> None:
    """Every line is a HELP, a TYPE or a well-formed sample; each family has HELP then TYPE first."""
    assert text.endswith("\n")
    typed: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in {"counter", "gauge", "histogram"}
            typed.add(name)
            continue
        assert _SAMPLE.match(line), line
        name = re.split(r"[{ ]", line)[0]
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in typed or base in typed, line


def test_label_values_are_escaped() -> None:
    registry = Registry()
    counter = Counter("t_total", "Help with a \\ backslash\nand a newline.", ["kind"])
    registry.add(counter)
    counter.inc(kind='quote " back \\ newline \n end')
    text = registry.render()
    assert 't_total{kind="quote \\" back \\\\ newline \\n end"} 1' in text
    assert "# HELP t_total Help with a \\\\ backslash\\nand a newline." in text
    assert "# TYPE t_total counter" in text
    _check_exposition(text)
    assert escape_label_value("a\nb") == "a\\nb"


def test_histogram_buckets_are_cumulative_and_end_at_inf() -> None:
    histogram = Histogram("lat_seconds", "Latency.", [0.1, 1.0], ["route"])
    for value in (0.05, 0.1, 0.5, 3.0):
        histogram.observe(value, route="/x")
    lines = histogram.samples()
    assert lines == [
        'lat_seconds_bucket{route="/x",le="0.1"} 2',  # le is inclusive: 0.1 counts in it
        'lat_seconds_bucket{route="/x",le="1"} 3',
        'lat_seconds_bucket{route="/x",le="+Inf"} 4',
        'lat_seconds_sum{route="/x"} 3.65',
        'lat_seconds_count{route="/x"} 4',
    ]


def test_counters_only_go_up_and_labels_must_match() -> None:
    counter = Counter("c_total", "C.", ["a"])
    with pytest.raises(ValueError):
        counter.inc(-1, a="x")
    with pytest.raises(ValueError):
        counter.inc(b="x")
    with pytest.raises(ValueError):
        Counter("bad-name", "x")
    with pytest.raises(ValueError):
        Histogram("h", "x", [1], ["le"])


def test_gauge_replace_all_drops_vanished_series() -> None:
    gauge = Gauge("parts", "P.", ["table"])
    gauge.replace_all([({"table": "a"}, 3), ({"table": "b"}, 4)])
    gauge.replace_all([({"table": "b"}, 5)])
    assert gauge.samples() == ['parts{table="b"} 5']


def test_gateway_metrics_render_a_valid_exposition() -> None:
    metrics = GatewayMetrics()
    metrics.events.set_total(7, status="accepted", error_code="")
    metrics.events.set_total(2, status="rejected", error_code="bad_signature")
    metrics.anomalies.set_total(1, kind="total_mismatch")
    metrics.request_seconds.observe(0.02, route="/v1/batches", method="POST", status="200")
    metrics.shipper_batch_records.observe(120)
    metrics.parts.replace_all([({"table": "events"}, 3)])
    text = metrics.render(None)
    _check_exposition(text)
    assert 'tracegate_events_total{status="rejected",error_code="bad_signature"} 2' in text
    for name in metrics.registry.names():
        assert f"# TYPE {name} " in text and f"# HELP {name} " in text


def test_parts_query_reads_every_server_on_a_cluster_and_refuses_odd_names() -> None:
    assert "FROM system.parts" in parts_query("")
    assert "clusterAllReplicas('tracegate', system.parts)" in parts_query("tracegate")
    with pytest.raises(ValueError):
        parts_query("x'); DROP TABLE t; --")

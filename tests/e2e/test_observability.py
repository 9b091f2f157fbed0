"""The real gateway process: /metrics counts what a register did, ClickHouse parts appear, ids are echoed."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.chain_builder import ChainedRegister, sale
from tests.e2e.test_ingest_http import registered
from tests.reliability.gateway_process import GatewayProcess

pytestmark = [pytest.mark.clickhouse, pytest.mark.slow]


@pytest.fixture
def fast_gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GatewayProcess]:
    """A gateway that refreshes the parts count every 0.2 s (the process inherits the environment)."""
    monkeypatch.setenv("TRACEGATE_PARTS_REFRESH_S", "0.2")
    gw = GatewayProcess(tmp_path / "data")
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()


def _metric(text: str, sample: str) -> float:
    match = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.M)
    assert match, f"{sample} not in /metrics"
    return float(match.group(1))


def test_metrics_count_events_anomalies_shipping_and_parts(fast_gateway: GatewayProcess) -> None:
    register: ChainedRegister = registered(fast_gateway, "KKM-OBS-1")
    good = [register.envelope(sale()) for _ in range(3)]
    wrong_total = register.envelope(sale(1500, lines_sum=1400))
    fast_gateway.ingest([*good, wrong_total])
    fast_gateway.ingest(good[:1])  # a resend: duplicate
    fast_gateway.wait_shipped(4)

    deadline = time.monotonic() + 30
    while True:
        status, headers, body = fast_gateway.request("GET", "/metrics")
        text = body.decode()
        if 'tracegate_clickhouse_active_parts{table="events"}' in text or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert headers["X-Request-Id"]
    assert _metric(text, 'tracegate_events_total{status="accepted",error_code=""}') == 4
    assert _metric(text, 'tracegate_events_total{status="duplicate",error_code=""}') == 1
    assert _metric(text, 'tracegate_anomalies_total{kind="total_mismatch"}') >= 1
    assert _metric(text, 'tracegate_shipper_rows_total{table="events"}') == 4
    assert _metric(text, "tracegate_journal_unshipped_bytes") == 0
    assert _metric(text, "tracegate_ready") == 1
    assert _metric(text, 'tracegate_clickhouse_active_parts{table="events"}') >= 1
    assert _metric(text, "tracegate_shipper_batch_records_count") >= 1
    assert _metric(text, "tracegate_event_loop_lag_seconds_count") >= 1  # the watcher runs in the gateway
    batches = 'tracegate_http_request_duration_seconds_count{route="/v1/batches",method="POST",status="200"}'
    assert _metric(text, batches) == 2

"""Bench pieces that need no server: the signed load, percentiles, visibility lags, /proc readings."""

from __future__ import annotations

import os
import statistics

from gateway.bench.loadgen import Sample
from gateway.bench.procstat import ProcessUsage, cpu_seconds, peak_rss_mib
from gateway.bench.report import percentile, visibility_lags_s
from gateway.bench.runner import PhaseResult
from gateway.bench.workload import LINES_PER_RECEIPT, _make_device
from gateway.ingest.receipt_validation import validate_event
from gateway.wire import pb, signing


def test_signed_load_is_chained_clean_and_shaped_as_the_issue_asks() -> None:
    device = _make_device("bench-x", 7, receipts=300, batch_size=40, start_ms=1_700_000_000_000)
    envelopes = [e for body in device.batches for e in pb.IngestBatch.FromString(body).envelopes]
    assert [len(pb.IngestBatch.FromString(b).envelopes) for b in device.batches][:-1] == [40] * 7
    key = signing.load_public_key_pem(device.public_key_pem)
    prev = signing.genesis_hash("bench-x")
    codes = []
    for seq, envelope in enumerate(envelopes, start=1):
        assert envelope.seq == seq and envelope.prev_hash == prev
        preimage = signing.event_preimage("bench-x", seq, prev, envelope.event)
        assert signing.verify_signature(key, preimage, envelope.signature)
        prev = signing.envelope_hash(preimage)
        event = pb.Event.FromString(envelope.event)
        assert len(event.receipt.lines) == LINES_PER_RECEIPT
        assert validate_event(event, event.time_ms + 1000) == []
        codes.append(sum(len(line.marking_codes) for line in event.receipt.lines))
    assert 1.3 <= statistics.mean(codes) <= 1.7


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile([], 0.99) == 0.0


def test_visibility_lag_is_time_from_ack_until_that_many_events_are_visible() -> None:
    usage = ProcessUsage("gateway", 1, 0.0, 0.0)
    phase = PhaseResult(
        name="gateway", start=0.0,
        samples=[Sample(0.0, 1.0, 10, 10), Sample(0.5, 2.0, 10, 10), Sample(1.0, 3.0, 10, 0)],
        rejected=10, duplicates=0, backpressure=0, errors=[], exhausted=False,
        server=usage, generators=[],
        visible=[(1.5, 0), (2.5, 12), (2.7, 5), (4.0, 20)],  # a racing poll may read low: never goes back
    )
    # First 10 visible at 2.5 (ack at 1.0); all 20 at 4.0 (ack at 2.0); the all-rejected request has none.
    assert visibility_lags_s(phase) == [1.5, 2.0]


def test_proc_readings_of_this_process() -> None:
    burn = sum(i * i for i in range(200_000))
    assert burn > 0
    assert cpu_seconds(os.getpid()) > 0
    assert 10 < peak_rss_mib(os.getpid()) < 100_000

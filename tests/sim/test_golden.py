"""The committed golden fixtures are what `python -m firmware_sim.golden` makes, and mean what they say."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from firmware_sim.golden import FIXTURES_DIR, write_fixtures
from gateway.ingest.receipt_validation import validate_event
from gateway.wire import pb, signing

FILES = ("valid_batch.pb", "receipt_sum_mismatch.pb", "devices.json")


def test_committed_fixtures_are_up_to_date(tmp_path: Path) -> None:
    write_fixtures(tmp_path)
    for name in FILES:
        fresh, committed = (tmp_path / name).read_bytes(), (FIXTURES_DIR / name).read_bytes()
        assert fresh == committed, f"run: python -m firmware_sim.golden ({name} is stale)"


def load(name: str) -> tuple[dict[str, str], list[pb.Envelope]]:
    manifest = json.loads((FIXTURES_DIR / "devices.json").read_text())
    device_id = manifest["fixtures"][name]["device_id"]
    device = next(d for d in manifest["devices"] if d["device_id"] == device_id)
    return device, list(pb.IngestBatch.FromString((FIXTURES_DIR / name).read_bytes()).envelopes)


def assert_signed_chain(device: dict[str, str], envelopes: list[pb.Envelope]) -> None:
    key = signing.load_public_key_pem(device["public_key_pem"])
    private = serialization.load_pem_private_key(device["private_key_pem"].encode(), password=None)
    assert signing.public_key_pem(private.public_key()) == device["public_key_pem"]  # type: ignore[arg-type]
    prev = signing.genesis_hash(device["device_id"])
    for seq, envelope in enumerate(envelopes, start=1):
        assert (envelope.device_id, envelope.seq, envelope.prev_hash) == (device["device_id"], seq, prev)
        preimage = signing.event_preimage(envelope.device_id, seq, prev, envelope.event)
        assert signing.verify_signature(key, preimage, envelope.signature)
        assert envelope.key_id == device["key_id"] == signing.key_id_of(key)
        prev = signing.envelope_hash(preimage)


def test_valid_batch_is_one_clean_signed_shift() -> None:
    device, envelopes = load("valid_batch.pb")
    assert_signed_chain(device, envelopes)
    events = [pb.Event.FromString(e.event) for e in envelopes]
    kinds = Counter(e.WhichOneof("body") for e in events)
    assert len(events) == 20
    assert kinds == {"receipt": 16, "cash_movement": 2, "shift_open": 1, "shift_close": 1}
    assert events[0].HasField("shift_open") and events[-1].HasField("shift_close")
    receipts = [e.receipt for e in events if e.HasField("receipt")]
    assert sum(r.operation == pb.SELL_RETURN for r in receipts) == 1
    assert any(line.marking_codes for r in receipts for line in r.lines)
    assert {p.type for r in receipts for p in r.payments} >= {pb.CASH, pb.CARD, pb.MOBILE}
    for event in events:
        assert validate_event(event, received_ms=event.time_ms) == []


def test_receipt_sum_mismatch_is_authentic_with_one_wrong_total() -> None:
    device, envelopes = load("receipt_sum_mismatch.pb")
    assert_signed_chain(device, envelopes)
    findings = {
        e.seq: [f.kind for f in validate_event(event, received_ms=event.time_ms)]
        for e in envelopes
        for event in [pb.Event.FromString(e.event)]
    }
    assert findings == {1: [], 2: [], 3: [], 4: ["total_mismatch"], 5: []}

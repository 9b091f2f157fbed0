"""The whole ingest path on an in-memory journal: what a register sees in its acks, and what is journalled."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from gateway import errors
from gateway.devices import Device, DeviceRegistry
from gateway.errors import GatewayError
from gateway.settings import Limits, Settings
from gateway.storage.rows import build_rows
from gateway.wire import pb, signing
from tests.ingest.conftest import (
    NOW_MS,
    Gateway,
    MemoryJournal,
    Register,
    make_gateway,
    receipt,
    rotation_to,
)

FIXTURES = Path(__file__).parent.parent / "fixtures"


def _statuses(acks: list[pb.EventAck]) -> list[str]:
    return [pb.AckStatus.Name(ack.status) if ack.status != pb.REJECTED else ack.error_code for ack in acks]


async def test_accepted_envelopes_are_journalled_then_acked(gateway: Gateway, register: Register) -> None:
    acks = await gateway.send(*register.run(3))
    assert _statuses(acks) == ["ACCEPTED"] * 3
    records = gateway.journal.decoded()
    assert [r.envelope.seq for r in records] == [1, 2, 3]
    for ack, record in zip(acks, records, strict=True):
        assert record.accepted and record.fiscal_sign == ack.fiscal_sign
        assert (record.seller_tin, record.store_id, record.gateway_id) == (
            "990340000123",
            "almaty-01",
            "test-gw",
        )
        assert record.envelope_hash == ack.envelope_hash and record.received_ms == NOW_MS
        event = pb.Event.FromString(record.envelope.event)
        assert gateway.fiscal.verify(
            register.device_id, ack.seq, ack.envelope_hash, event.time_ms, ack.fiscal_sign
        )
    assert gateway.chains.head(register.device_id).envelope_hash == register.head
    assert gateway.pipeline.stats() == {"accepted": 3}


async def test_every_rejection_code_leaves_the_rest_of_the_batch_alone(register: Register) -> None:
    revoked, stranger = Register("KKM-REVOKED"), Register("KKM-UNKNOWN")
    gateway = make_gateway([register], settings=Settings(gateway_id="test-gw", limits=Limits(max_lines=3)))
    gateway.registry.put(revoked.device(status="revoked"))

    first = register.envelope()
    bad_signature = register.envelope(advance=False)
    bad_signature.signature = bytes(63) + b"\x01"
    other_bytes = register.envelope(advance=False)
    other_bytes.event = receipt(prices=(5,)).SerializeToString()
    unknown_key = register.envelope(advance=False)
    unknown_key.key_id = stranger.key_id
    unsigned_content = register.envelope(advance=False)
    unsigned_content.event = b"\x0a\xff"  # not what was signed
    too_long = register.envelope(advance=False)
    too_long.device_id = "K" * 65
    second = register.envelope()

    acks = await gateway.send(
        first, stranger.envelope(), revoked.envelope(), bad_signature, other_bytes, unknown_key,
        unsigned_content, too_long, second,
    )  # fmt: skip
    assert _statuses(acks) == [
        "ACCEPTED", "unknown_device", "device_revoked", "bad_signature", "bad_signature", "unknown_key",
        "bad_signature", "field_too_long", "ACCEPTED",
    ]  # fmt: skip
    assert all(not ack.retryable and ack.detail for ack in acks[1:-1])
    records = gateway.journal.decoded()
    # What the chain decided, then each refusal no signature proved the named device's: once per device and
    # error (the detail counts the rest), naming no seller, even for a device that exists.
    assert [(r.accepted, r.error_code, r.envelope.device_id[:10]) for r in records] == [
        (True, "", "KKM-0001"), (True, "", "KKM-0001"), (False, "unknown_device", "KKM-UNKNOW"),
        (False, "device_revoked", "KKM-REVOKE"), (False, "bad_signature", "KKM-0001"),
        (False, "unknown_key", "KKM-0001"), (False, "field_too_long", "KKKKKKKKKK"),
    ]  # fmt: skip
    assert {r.seller_tin for r in records[2:]} == {""}
    assert records[4].detail.endswith("(and 2 more like it in the same request)"), records[4].detail
    assert gateway.chains.head(register.device_id).seq == 2


async def test_authentic_content_over_the_limits_is_accepted_with_its_anomaly(register: Register) -> None:
    """A register cannot un-sign: refusing these would block its chain for ever (every later seq a gap)."""
    gateway = make_gateway([register], settings=Settings(gateway_id="test-gw", limits=Limits(max_lines=3)))
    too_many_lines = register.envelope(receipt(prices=[100] * 4))
    fast_clock = register.envelope(receipt(time_ms=NOW_MS + 360_000))  # six minutes fast
    undecodable = register.envelope(b"\x0a\xff")  # a firmware bug signed bytes that are no Event
    empty = register.envelope(pb.Event(time_ms=NOW_MS))
    following = register.envelope()
    acks = await gateway.send(too_many_lines, fast_clock, undecodable, empty, following)
    assert _statuses(acks) == ["ACCEPTED"] * 5
    assert all(ack.fiscal_sign for ack in acks)
    records = gateway.journal.decoded()
    assert [[f.kind for f in r.findings] for r in records] == [
        ["too_many_lines"], ["clock_skew"], ["undecodable_event", "pii_without_consent"], ["empty_event"], []
    ]
    # Bytes that are no Event might hide a buyer's contacts nobody can read: not kept (the envelope hash
    # and signature are, so the register's copy of them can still be checked).
    assert records[2].envelope.event == b"" and records[2].sealed.protection == "erased"
    assert gateway.chains.head(register.device_id).seq == 5
    events = build_rows(records)["events"].columns
    assert events["kind"] == ["receipt", "receipt", "undecodable", "empty", "receipt"]
    anomalies = build_rows(records)["anomalies"].columns
    assert set(anomalies["kind"]) >= {"too_many_lines", "clock_skew", "undecodable_event", "empty_event"}


async def test_a_replay_is_a_duplicate_with_the_same_fiscal_sign(
    gateway: Gateway, register: Register
) -> None:
    envelopes = register.run(3)
    accepted = await gateway.send(*envelopes)
    journalled = len(gateway.journal.records)
    again = await gateway.send(*envelopes, register.envelope())
    assert _statuses(again) == ["DUPLICATE"] * 3 + ["ACCEPTED"]
    assert [a.fiscal_sign for a in again[:3]] == [a.fiscal_sign for a in accepted]
    assert len(gateway.journal.records) == journalled + 1  # duplicates are not journalled twice


async def test_a_fork_is_rejected_and_recorded_as_an_anomaly(gateway: Gateway, register: Register) -> None:
    envelopes = register.run(2)
    await gateway.send(*envelopes)
    fork = register.envelope(receipt(prices=(7,)), seq=2, prev_hash=envelopes[1].prev_hash, advance=False)
    acks = await gateway.send(fork)
    assert _statuses(acks) == ["chain_fork"]
    record = gateway.journal.decoded()[-1]
    assert not record.accepted and record.error_code == "chain_fork"
    assert [f.kind for f in record.findings] == ["chain_fork"]


async def test_gap_and_prev_hash_mismatch(gateway: Gateway, register: Register) -> None:
    await gateway.send(register.envelope())
    missing = register.envelope()
    ahead = register.envelope()
    wrong_prev = register.envelope(seq=2, prev_hash=bytes(32), advance=False)
    acks = await gateway.send(ahead, wrong_prev)
    assert _statuses(acks) == ["seq_gap", "prev_hash_mismatch"]
    assert [ack.retryable for ack in acks] == [True, False]
    # The device fills the gap, in order, and resends: now it goes through.
    assert _statuses(await gateway.send(missing, ahead)) == ["ACCEPTED", "ACCEPTED"]


async def test_a_signed_gap_notice_lets_the_device_go_on(gateway: Gateway, register: Register) -> None:
    await gateway.send(register.envelope())
    notice = pb.Event(time_ms=NOW_MS, gap_notice=pb.GapNotice(first_missing_seq=3, last_missing_seq=5))
    acks = await gateway.send(register.envelope(notice), register.envelope(seq=6))
    assert _statuses(acks) == ["ACCEPTED", "ACCEPTED"]
    record = gateway.journal.decoded()[1]
    assert [f.kind for f in record.findings] == ["gap_notice"]


def stored_findings(records: list[pb.JournalRecord]) -> list[tuple[int, str]]:
    """(seq, kind) of the anomaly rows journal records become (content findings are found there)."""
    anomalies = build_rows(records).get("anomalies")
    if anomalies is None:
        return []
    return list(zip(anomalies.columns["seq"], anomalies.columns["kind"], strict=True))


async def test_content_errors_are_accepted_with_findings(gateway: Gateway, register: Register) -> None:
    event = receipt(time_ms=NOW_MS - 80 * 3600 * 1000)
    event.receipt.total += 100
    event.receipt.operation = pb.SELL_RETURN
    acks = await gateway.send(register.envelope(event))
    assert _statuses(acks) == ["ACCEPTED"] and acks[0].fiscal_sign
    (record,) = gateway.journal.decoded()
    assert record.accepted and not record.findings, "content findings are not journalled: they follow from it"
    assert sorted(kind for _, kind in stored_findings([record])) == [
        "late_upload", "missing_parent", "payment_mismatch", "total_mismatch",
    ]  # fmt: skip


async def test_one_verify_per_clean_run(
    gateway: Gateway, register: Register, verify_calls: list[bytes]
) -> None:
    acks = await gateway.send(*register.run(40))
    assert _statuses(acks) == ["ACCEPTED"] * 40
    assert len(verify_calls) == 1


async def test_only_verified_signatures_are_kept_as_evidence(gateway: Gateway, register: Register) -> None:
    # In a chained run only the newest signature is verified: it covers the others through their hashes,
    # so whatever bytes the others carry are not stored as if they were the device's signatures.
    envelopes = register.run(3)
    envelopes[0].signature = envelopes[1].signature = b"\x01" * 64
    assert _statuses(await gateway.send(*envelopes)) == ["ACCEPTED"] * 3
    kept = [record.envelope.signature for record in gateway.journal.decoded()]
    assert kept == [b"", b"", envelopes[2].signature]
    rows = build_rows(gateway.journal.decoded())["events"].columns
    assert rows["signature"] == kept
    # A run whose newest signature fails is verified envelope by envelope: each keeps its own.
    more = register.run(2)
    more[1].signature = bytes(64)
    assert _statuses(await gateway.send(*more)) == ["ACCEPTED", "bad_signature"]
    assert gateway.journal.decoded()[3].envelope.signature == more[0].signature


async def test_a_tampered_envelope_in_a_run_rejects_it_and_its_successors_only(
    gateway: Gateway, register: Register, verify_calls: list[bytes]
) -> None:
    envelopes = register.run(20)
    envelopes[10].event = receipt(prices=(123_456,)).SerializeToString()
    acks = await gateway.send(*envelopes)
    assert _statuses(acks) == ["ACCEPTED"] * 10 + ["bad_signature"] + ["seq_gap"] * 9
    assert gateway.chains.head(register.device_id).seq == 10
    # 0..10 fail as a run, then are verified one by one; 11..19 are still one run with one verify.
    assert len(verify_calls) == 1 + 10 + 1


async def test_backpressure_commits_nothing(gateway: Gateway, register: Register) -> None:
    envelopes = register.run(3)
    gateway.journal.refuse = GatewayError(errors.BACKPRESSURE, retry_after_s=2)
    with pytest.raises(GatewayError) as caught:
        await gateway.send(*envelopes)
    assert caught.value.error is errors.BACKPRESSURE and caught.value.retry_after_s == 2
    assert gateway.chains.head(register.device_id).seq == 0 and not gateway.journal.records
    gateway.journal.refuse = None
    assert _statuses(await gateway.send(*envelopes)) == ["ACCEPTED"] * 3


async def test_old_seqs_are_answered_from_storage(register: Register) -> None:
    gateway = make_gateway([register], window=2)
    envelopes = register.run(6)
    accepted = await gateway.send(*envelopes)
    # Not shipped yet: the gateway cannot tell, and says "later" without recording anything.
    acks = await gateway.send(envelopes[0])
    assert _statuses(acks) == ["history_unavailable"] and acks[0].retryable
    assert len(gateway.journal.records) == 6
    gateway.storage.ship(gateway.journal)
    acks = await gateway.send(envelopes[0], envelopes[5])
    assert _statuses(acks) == ["DUPLICATE", "DUPLICATE"]
    assert acks[0].fiscal_sign == accepted[0].fiscal_sign
    assert gateway.storage.lookups[-1] == (register.device_id, [1])


async def test_a_batch_resent_after_a_lost_ack_rotated_the_key_is_all_duplicates(register: Register) -> None:
    # The register sent a sale and a key rotation (both signed by its old key), then a sale under the new
    # key; the ack was lost, so it resends the very same bytes, of which the old key no longer verifies two.
    gateway = make_gateway([register])
    first = register.envelope(receipt())
    rotation = register.envelope(rotation_to(new_key := signing.new_private_key()))
    register.key = new_key
    after = register.envelope(receipt())
    accepted = await gateway.send(first, rotation, after)
    assert _statuses(accepted) == ["ACCEPTED"] * 3
    gateway.storage.ship(gateway.journal)

    acks = await gateway.send(first, rotation, after)
    assert _statuses(acks) == ["DUPLICATE"] * 3
    assert [a.fiscal_sign for a in acks] == [a.fiscal_sign for a in accepted]
    assert len(gateway.journal.records) == 3  # a duplicate is not journalled again
    assert gateway.registry.get(register.device_id).key_id == register.key_id  # type: ignore[union-attr]


async def test_a_retired_key_still_signs_nothing_new(register: Register) -> None:
    gateway = make_gateway([register])
    old_key = register.key
    sale = register.envelope(receipt())
    rotation = register.envelope(rotation_to(signing.new_private_key()))
    assert _statuses(await gateway.send(sale, rotation)) == ["ACCEPTED"] * 2

    # Not shipped yet: a resend of the old key's envelope is answered later, not refused.
    (early,) = await gateway.send(sale)
    assert (early.error_code, early.retryable) == ("history_unavailable", True)
    gateway.storage.ship(gateway.journal)
    lookups = len(gateway.storage.lookups)

    stale = Register(register.device_id, key=old_key, seq=register.seq, head=register.head)
    other_content = stale.envelope(receipt(prices=(999,)), seq=1, prev_hash=sale.prev_hash)
    re_signed = stale.envelope(receipt(), seq=1, prev_hash=sale.prev_hash)  # same content, new signature
    assert re_signed.signature != sale.signature
    next_one = stale.envelope(receipt())
    acks = await gateway.send(other_content, re_signed, next_one)
    # What the old key signed before its rotation is still what was accepted; nothing else it signs is.
    assert _statuses(acks) == ["unknown_key", "DUPLICATE", "unknown_key"]
    # The window already contradicted other_content's hash, and next_one is past the head: one lookup only.
    assert gateway.storage.lookups[lookups:] == [(register.device_id, [1])]
    # The two refusals nothing proves the device's: one record, which counts the other.
    records = gateway.journal.decoded()
    assert [(r.accepted, r.error_code) for r in records] == [(True, ""), (True, ""), (False, "unknown_key")]
    assert records[-1].detail.endswith("(and 1 more like it in the same request)")


class CountingJournal(MemoryJournal):
    """Tracks how many appends are in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.most_in_flight = 0
        self.delay_s = 0.05

    async def append(self, records: list[bytes]) -> None:  # type: ignore[override]
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await super().append(records)
        finally:
            self.in_flight -= 1


def _with_journal(gateway: Gateway, journal: MemoryJournal) -> Gateway:
    gateway.pipeline._journal = journal
    gateway.journal = journal
    return gateway


async def test_two_requests_for_one_device_do_not_interleave(register: Register) -> None:
    gateway = _with_journal(make_gateway([register]), CountingJournal())
    envelopes = register.run(5)
    first, second = await asyncio.gather(gateway.send(*envelopes), gateway.send(*envelopes))
    assert sorted([_statuses(first), _statuses(second)]) == [["ACCEPTED"] * 5, ["DUPLICATE"] * 5]
    assert [r.envelope.seq for r in gateway.journal.decoded()] == [1, 2, 3, 4, 5]
    assert isinstance(gateway.journal, CountingJournal) and gateway.journal.most_in_flight == 1


async def test_requests_for_different_devices_share_the_journal_concurrently() -> None:
    registers = [Register("KKM-A"), Register("KKM-B")]
    gateway = _with_journal(make_gateway(registers), CountingJournal())
    results = await asyncio.gather(*(gateway.send(*r.run(3)) for r in registers))
    assert [_statuses(acks) for acks in results] == [["ACCEPTED"] * 3] * 2
    assert isinstance(gateway.journal, CountingJournal) and gateway.journal.most_in_flight == 2
    assert len(gateway.pipeline._locks) == 0  # lock entries go away when nobody needs them


def _golden(name: str) -> tuple[Gateway, pb.IngestBatch, dict[str, object]]:
    batch_file, devices_file = FIXTURES / name, FIXTURES / "devices.json"
    # Committed with the code: missing, they are a broken checkout, not a reason to pass.
    assert batch_file.exists() and devices_file.exists(), f"{FIXTURES} lacks {name} or devices.json"
    manifest = json.loads(devices_file.read_text())
    fields = Device.__dataclass_fields__
    devices = [Device(**{k: v for k, v in row.items() if k in fields}) for row in manifest["devices"]]
    batch = pb.IngestBatch.FromString(batch_file.read_bytes())
    # The gateway's clock: a minute after the newest event, so the recorded day is not "late".
    newest = max(pb.Event.FromString(envelope.event).time_ms for envelope in batch.envelopes)
    gateway = make_gateway([])
    gateway.pipeline._registry = DeviceRegistry(devices)
    gateway.pipeline._clock = lambda: newest + 60_000
    return gateway, gateway.pipeline.decode_batch(batch_file.read_bytes()), manifest["fixtures"][name]


async def test_golden_day_from_firmware_sim_is_accepted_without_findings() -> None:
    gateway, batch, facts = _golden("valid_batch.pb")
    ack = await gateway.pipeline.ingest(batch)
    assert _statuses(list(ack.acks)) == ["ACCEPTED"] * len(batch.envelopes)
    assert stored_findings(gateway.journal.decoded()) == []
    assert gateway.chains.head(str(facts["device_id"])).envelope_hash.hex() == facts["head_hash"]


async def test_golden_receipt_with_a_wrong_total_is_accepted_with_its_finding() -> None:
    gateway, batch, facts = _golden("receipt_sum_mismatch.pb")
    ack = await gateway.pipeline.ingest(batch)
    assert _statuses(list(ack.acks)) == ["ACCEPTED"] * len(batch.envelopes)
    assert stored_findings(gateway.journal.decoded()) == [(facts["mismatch_seq"], "total_mismatch")]

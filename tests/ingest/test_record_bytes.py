"""The pipeline on a batch of every kind of envelope: what it decides, and the exact bytes it journals."""

from __future__ import annotations

from gateway.codes.status_index import StatusIndex
from gateway.devices import DeviceRegistry
from gateway.ingest.chain import ChainState
from gateway.ingest.code_verdicts import CodeVerdicts
from gateway.ingest.fiscal_sign import FiscalSigner
from gateway.ingest.pipeline import IngestPipeline
from gateway.settings import Limits, Settings
from gateway.storage.rows import build_rows
from gateway.wire import pb
from tests.ingest.conftest import FISCAL_KEY, NOW_MS, MemoryJournal, MemoryStorage, Register, receipt

SETTINGS = Settings(gateway_id="test-gw", limits=Limits(max_lines=3))
GOOD_CODE = "0104870101000027214q+D2h\x1d93WCEP"
CODES = (GOOD_CODE, GOOD_CODE, "0104601234567893215ABCDEFGHIJKLM", "not a code", "")


def _pipeline(register: Register) -> tuple[IngestPipeline, MemoryJournal]:
    journal = MemoryJournal()
    pipeline = IngestPipeline(
        SETTINGS, DeviceRegistry([register.device()]), ChainState(), FiscalSigner(FISCAL_KEY), journal,
        MemoryStorage().lookup, clock=lambda: NOW_MS, code_verdicts=CodeVerdicts(StatusIndex()),
    )
    return pipeline, journal


def _mixed_batch(register: Register) -> bytes:
    """Clean and faulty envelopes: decoding refusals, bad arithmetic, marking codes, a forgery, a gap."""
    coded = receipt()
    coded.receipt.lines[0].marking_codes.extend(CODES)
    wrong_total = receipt(time_ms=NOW_MS - 80 * 3600 * 1000)
    wrong_total.receipt.total += 100
    returned = receipt()
    returned.receipt.operation = pb.SELL_RETURN
    returned.receipt.lines[1].marking_codes.append(GOOD_CODE)
    first = register.envelope(coded)
    malformed = register.envelope(b"\x0a\xff")
    too_many_lines = register.envelope(receipt(prices=[100] * 4))
    forged = register.envelope(advance=False)
    forged.signature = bytes(63) + b"\x01"
    envelopes = [
        first, malformed, too_many_lines, forged, register.envelope(wrong_total), register.envelope(returned),
        register.envelope(receipt(time_ms=NOW_MS + 3_600_000)), register.envelope(coded),
    ]
    envelopes.append(register.envelope(seq=register.seq + 2, advance=False))  # a gap
    return pb.IngestBatch(envelopes=envelopes).SerializeToString()


async def test_a_mixed_batch_is_decided_envelope_by_envelope() -> None:
    register = Register("KKM-W1")
    pipeline, journal = _pipeline(register)
    body = _mixed_batch(register)
    acks = (await pipeline.ingest(pipeline.decode_batch(body))).acks
    await pipeline.ingest(pipeline.decode_batch(body))  # duplicates; codes now sold twice
    assert [a.error_code or pb.AckStatus.Name(a.status) for a in acks] == [
        "ACCEPTED", "ACCEPTED", "ACCEPTED", "bad_signature", "ACCEPTED", "ACCEPTED",
        "ACCEPTED", "ACCEPTED", "seq_gap",
    ]  # fmt: skip
    records = [pb.JournalRecord.FromString(raw) for raw in journal.records]
    journalled = {f.kind for record in records for f in record.findings}
    assert {"code_invalid", "code_unknown", "code_sold_twice"} <= journalled
    assert {"total_mismatch", "late_upload"} <= set(build_rows(records)["anomalies"].columns["kind"])


def _plain(record: pb.JournalRecord) -> bytes:
    """The record rebuilt with the keyword constructor, every field passed (empty ones too)."""
    return pb.JournalRecord(
        envelope=record.envelope, received_ms=record.received_ms, accepted=record.accepted,
        envelope_hash=record.envelope_hash, fiscal_sign=record.fiscal_sign, seller_tin=record.seller_tin,
        store_id=record.store_id, findings=record.findings, error_code=record.error_code,
        detail=record.detail, gateway_id=record.gateway_id, code_verdicts=record.code_verdicts,
        sealed=record.sealed if record.HasField("sealed") else None,
    ).SerializeToString()


async def test_records_and_acks_are_byte_for_byte_the_plain_construction() -> None:
    register = Register("KKM-R1")
    body = _mixed_batch(register)
    pipeline, journal = _pipeline(register)
    for _ in range(2):  # the second time: duplicates, and codes sold twice
        ack = await pipeline.ingest(pipeline.decode_batch(body))
        raw_ack = ack.SerializeToString()
        assert pb.IngestAck.FromString(raw_ack).SerializeToString() == raw_ack
    assert len(journal.records) > 5
    for raw in journal.records:
        assert _plain(pb.JournalRecord.FromString(raw)) == raw
    assert any(pb.JournalRecord.FromString(raw).code_verdicts for raw in journal.records)
    assert any(pb.JournalRecord.FromString(raw).findings for raw in journal.records)

"""Journal records are built field by field for speed: their bytes must be the plain constructor's."""

from __future__ import annotations

from gateway.wire import pb
from tests.ingest.conftest import Register
from tests.ingest.test_workers import _mixed_batch, _pipeline


def _plain(record: pb.JournalRecord) -> bytes:
    """The record rebuilt with the keyword constructor, every field passed (empty ones too)."""
    return pb.JournalRecord(
        envelope=record.envelope, received_ms=record.received_ms, accepted=record.accepted,
        envelope_hash=record.envelope_hash, fiscal_sign=record.fiscal_sign, seller_tin=record.seller_tin,
        store_id=record.store_id, findings=record.findings, error_code=record.error_code,
        detail=record.detail, gateway_id=record.gateway_id, code_verdicts=record.code_verdicts,
    ).SerializeToString()


async def test_records_and_acks_are_byte_for_byte_the_plain_construction() -> None:
    register = Register("KKM-R1")
    body = _mixed_batch(register)
    pipeline, journal = _pipeline(register, None)
    for _ in range(2):  # the second time: duplicates, and codes sold twice
        ack = await pipeline.ingest(pipeline.decode_batch(body))
        raw_ack = ack.SerializeToString()
        assert pb.IngestAck.FromString(raw_ack).SerializeToString() == raw_ack
    assert len(journal.records) > 5
    for raw in journal.records:
        assert _plain(pb.JournalRecord.FromString(raw)) == raw
    assert any(pb.JournalRecord.FromString(raw).code_verdicts for raw in journal.records)
    assert any(pb.JournalRecord.FromString(raw).findings for raw in journal.records)

"""Worker processes change where the stateless stages run, never what the gateway decides or stores."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.codes.status_index import StatusIndex
from gateway.devices import DeviceRegistry
from gateway.ingest.chain import ChainState
from gateway.ingest.code_verdicts import CodeVerdicts
from gateway.ingest.fiscal_sign import FiscalSigner
from gateway.ingest.pipeline import IngestPipeline
from gateway.ingest.workers import WorkerPool
from gateway.settings import Limits, Settings
from gateway.wire import pb
from tests.ingest.conftest import FISCAL_KEY, NOW_MS, MemoryJournal, MemoryStorage, Register, receipt

SETTINGS = Settings(gateway_id="test-gw", limits=Limits(max_lines=3), ingest_workers=0)
GOOD_CODE = "0104870101000027214q+D2h\x1d93WCEP"
CODES = (GOOD_CODE, GOOD_CODE, "0104601234567893215ABCDEFGHIJKLM", "not a code", "")


@pytest.fixture(scope="module")
def workers() -> Iterator[WorkerPool]:
    """One spawned worker, shared by this module's tests."""
    pool = WorkerPool(1)
    yield pool
    pool.close()


def _pipeline(register: Register, workers: WorkerPool | None) -> tuple[IngestPipeline, MemoryJournal]:
    journal = MemoryJournal()
    pipeline = IngestPipeline(
        SETTINGS, DeviceRegistry([register.device()]), ChainState(), FiscalSigner(FISCAL_KEY), journal,
        MemoryStorage().lookup, clock=lambda: NOW_MS, code_verdicts=CodeVerdicts(StatusIndex()),
        workers=workers,
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
    malformed = register.envelope(advance=False)
    malformed.event = b"\x0a\xff"
    too_many_lines = register.envelope(receipt(prices=[100] * 4), advance=False)
    forged = register.envelope(advance=False)
    forged.signature = bytes(63) + b"\x01"
    envelopes = [
        first, malformed, too_many_lines, forged, register.envelope(wrong_total), register.envelope(returned),
        register.envelope(receipt(time_ms=NOW_MS + 3_600_000), advance=False), register.envelope(coded),
    ]
    envelopes.append(register.envelope(seq=register.seq + 2, advance=False))  # a gap
    return pb.IngestBatch(envelopes=envelopes).SerializeToString()


async def test_a_worker_decides_byte_for_byte_as_in_process(workers: WorkerPool) -> None:
    register = Register("KKM-W1")
    body = _mixed_batch(register)
    answers = []
    for pool in (None, workers):
        pipeline, journal = _pipeline(register, pool)
        ack = await pipeline.ingest(pipeline.decode_batch(body))
        again = await pipeline.ingest(pipeline.decode_batch(body))  # duplicates; codes now sold twice
        answers.append((ack.SerializeToString(), again.SerializeToString(), journal.records))
    assert answers[0] == answers[1]
    acks = pb.IngestAck.FromString(answers[0][0]).acks
    assert [a.error_code or pb.AckStatus.Name(a.status) for a in acks] == [
        "ACCEPTED", "malformed_event", "too_many_lines", "bad_signature", "ACCEPTED", "ACCEPTED",
        "time_in_future", "ACCEPTED", "seq_gap",
    ]  # fmt: skip
    kinds = {f.kind for raw in answers[1][2] for f in pb.JournalRecord.FromString(raw).findings}
    assert {"code_invalid", "code_unknown", "total_mismatch", "late_upload", "code_sold_twice"} <= kinds

"""The uploader sends in order, settles on acks, and resends the very same bytes after any failure."""

from __future__ import annotations

import io
import json
import random

import aiohttp

from firmware_sim.journal import encode_batch
from firmware_sim.summary import AckLog, UploadStats
from firmware_sim.uploader import Uploader
from gateway.wire import pb
from tests.sim.fake_gateway import running_fake
from tests.sim.registers import MakeRegister, working_day


def seqs_in(body: bytes) -> list[int]:
    return [e.seq for e in pb.IngestBatch.FromString(body).envelopes]


async def drain(uploader: Uploader, attempts: int = 100) -> None:
    """Upload until the queue is empty, without waiting out backoffs."""
    for _ in range(attempts):
        if await uploader.upload_once() is None:
            return
    raise AssertionError("queue did not drain")


def test_batches_are_the_exact_envelope_bytes(make_register: MakeRegister) -> None:
    register = make_register()
    working_day(register, receipts=5, shifts=1)
    records = register.journal.records()
    batch = pb.IngestBatch.FromString(encode_batch(records))
    assert [e.SerializeToString(deterministic=True) for e in batch.envelopes] == records
    assert encode_batch(records) == pb.IngestBatch(envelopes=batch.envelopes).SerializeToString()


async def test_offline_backlog_uploads_in_order(make_register: MakeRegister) -> None:
    register = make_register()
    working_day(register, receipts=40, shifts=2)  # all of it made while offline
    backlog = register.seq
    async with running_fake() as fake, aiohttp.ClientSession() as session:
        uploader = Uploader(session, fake.url, register, UploadStats(), rng=random.Random(1), batch_size=7)
        await drain(uploader)
    assert fake.accepted_order == [(register.identity.device_id, s) for s in range(1, backlog + 1)]
    assert [seqs_in(b)[0] for b in fake.bodies] == list(range(1, backlog + 1, 7))
    assert len(register.queue) == 0 and register.settled_through == backlog
    assert uploader.stats.by_status() == {"ACCEPTED": backlog}


async def test_back_pressure_and_timeouts_resend_the_same_bytes(make_register: MakeRegister) -> None:
    register = make_register()
    working_day(register, receipts=8, shifts=1)
    async with running_fake() as fake, aiohttp.ClientSession() as session:
        fake.faults = [("503", 2), ("hang", 1.0)]
        stats = UploadStats()
        uploader = Uploader(session, fake.url, register, stats, rng=random.Random(1), timeout_s=0.2)
        assert await uploader.upload_once() == 2.0  # Retry-After is obeyed
        assert await uploader.upload_once() is not None  # timed out: backoff
        assert await uploader.upload_once() == 0.0
        await drain(uploader)
    assert fake.bodies[0] == fake.bodies[1] == fake.bodies[2]
    assert stats.request_errors == {"backpressure": 1, "timeout": 1} and stats.resends == 2
    assert len(register.queue) == 0


async def test_a_retryable_rejection_resends_from_there_and_a_final_one_is_dropped(
    make_register: MakeRegister,
) -> None:
    register = make_register()
    working_day(register, receipts=8, shifts=1)
    head = register.seq
    stats = UploadStats()
    async with running_fake() as fake, aiohttp.ClientSession() as session:
        fake.reject = {4: True, 7: False}
        uploader = Uploader(session, fake.url, register, stats, rng=random.Random(1))
        assert (await uploader.upload_once() or 0) > 0  # seq 4 must come again, after a pause
        assert register.settled_through == 3
        await drain(uploader)
    assert seqs_in(fake.bodies[1]) == list(range(4, head + 1))
    assert fake.bodies[1] == encode_batch(register.journal.records()[3:])
    # Acks after the first retryable rejection are not looked at: the register resends from there.
    assert stats.error_codes == {"seq_gap": 1, "bad_signature": 1} and stats.dropped == 1
    assert len(register.queue) == 0


async def test_a_lost_ack_makes_a_duplicate_with_the_same_fiscal_sign(make_register: MakeRegister) -> None:
    register = make_register()
    working_day(register, receipts=4, shifts=1)
    out = io.StringIO()
    log = AckLog(out)
    async with running_fake() as fake, aiohttp.ClientSession() as session:
        uploader = Uploader(session, fake.url, register, UploadStats(), rng=random.Random(1),
                            lost_ack_rate=1.0, ack_log=log)
        assert await uploader.upload_once() == 0.0
        assert len(register.queue) == register.seq  # the register never saw the answer
        uploader.lost_ack_rate = 0.0
        await drain(uploader)
    assert fake.bodies[0] == fake.bodies[1]
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    first, second = lines[: register.seq], lines[register.seq :]
    assert {line["status"] for line in first} == {"ACCEPTED"} and all(line["lost"] for line in first)
    assert {line["status"] for line in second} == {"DUPLICATE"}
    assert [(a["seq"], a["fiscal_sign"]) for a in first] == [(d["seq"], d["fiscal_sign"]) for d in second]
    assert all(line["fiscal_sign"] for line in second)
    assert set(second[0]) == {"device_id", "seq", "status", "fiscal_sign", "error_code"}


async def test_an_unreachable_gateway_keeps_everything_queued(make_register: MakeRegister) -> None:
    register = make_register()
    register.open_shift()
    register.sell()
    stats = UploadStats()
    async with aiohttp.ClientSession() as session:
        uploader = Uploader(session, "http://127.0.0.1:9", register, stats, rng=random.Random(1))
        assert (await uploader.upload_once() or 0) > 0
    assert len(register.queue) == 2 and stats.request_errors == {"network": 1} and stats.answered == 0

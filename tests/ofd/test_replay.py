"""TOKEN and REQNUM as the design document's §4 says: a resend gets the stored answer byte for byte and
counts nothing, also after a restart (journal replay) and after the exchange left the journal (restored
from ClickHouse); 2, 8 and 9 for misuse; refusals only for protocol faults, tokens and revoked registers."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from gateway.devices import revoked
from gateway.ofd.framing import ResultCode, split_frame
from gateway.ofd.registration import with_token
from gateway.service import GatewayService
from gateway.settings import Settings
from gateway.storage.device_store import save_device
from gateway.wire import ofd_pb2, pb
from tests.ofd.conftest import ofd_settings, register_ofd, running
from tests.ofd.registers import Register, commodity, ticket
from tests.ofd.stored import rows, shipped

pytestmark = pytest.mark.clickhouse


def now_ms() -> int:
    return time.time_ns() // 1_000_000 // 1000 * 1000


def sale(n: int = 0) -> ofd_pb2.Request:
    return ofd_pb2.Request(command=ofd_pb2.COMMAND_TICKET,
                           ticket=ticket(now_ms() - 60_000 + n, [commodity(f"Item {n}", 10_000 + n)]))


async def receipts(service: GatewayService) -> int:
    return int((await rows(service, "SELECT count() FROM {db}.receipts"))[0][0])


async def test_a_resend_after_a_lost_answer_gets_the_same_bytes_and_counts_nothing(
    service: GatewayService, register: Register,
) -> None:
    frame = register.frame(sale())
    first_token = register.token
    _, response, answer = await register.send_frame(frame)
    assert response.result.result_code == 0 and register.token != first_token, "a new token after a document"
    for _ in range(2):  # the register never saw the answer: the same bytes, the same TOKEN and REQNUM
        assert (await register.send_frame(frame))[2] == answer
    assert await receipts(service) == 1
    x = (await register.report(now_ms())).report.zx_report
    assert x.ticket_operations[0].tickets_count == 1, "a resend counts nothing"


async def test_misused_tokens_and_request_numbers_are_refused_as_the_protocol_says(
    service: GatewayService, register: Register,
) -> None:
    frame = register.frame(sale())
    old_token = register.token
    await register.send_frame(frame)
    new_token = register.token
    # 8: the issued token with the last REQNUM.
    _, response, _ = await register.send_frame(register.frame(sale(1), new=False))
    assert response.result.result_code == ResultCode.INVALID_REQUEST_NUMBER
    # 9: the last TOKEN and REQNUM with another command.
    info = ofd_pb2.Request(command=ofd_pb2.COMMAND_INFO)
    _, response, _ = await register.send_frame(register.frame(info, new=False, token=old_token))
    assert response.result.result_code == ResultCode.INVALID_RETRY_REQUEST
    # 2: a token that is not the current one (the old one on a new request, a guess, 0).
    for token in (old_token, new_token + 1, 0):
        _, response, answer = await register.send_frame(register.frame(sale(2), token=token))
        assert response.result.result_code == ResultCode.INVALID_TOKEN
        assert split_frame(answer)[0].token == token, "a refusal issues no token"
    register.token = new_token
    assert (await register.send(sale(3))).result.result_code == 0, "the register goes on after fixing it"
    assert await receipts(service) == 2


async def test_service_commands_keep_the_token_and_are_answered_again_on_a_resend(
    service: GatewayService, register: Register,
) -> None:
    frame = register.frame(ofd_pb2.Request(command=ofd_pb2.COMMAND_INFO))
    token = register.token
    _, response, answer = await register.send_frame(frame)
    assert response.result.result_code == 0 and register.token == token, "INFO keeps the token"
    assert (await register.send_frame(frame))[2] == answer
    assert (await register.send(sale())).result.result_code == 0
    _, response, _ = await register.send_frame(frame)
    assert response.result.result_code == ResultCode.INVALID_TOKEN, "no longer the last exchange"


async def test_a_resend_after_a_restart_is_answered_from_the_journal(settings: Settings) -> None:
    async with running(settings) as service:
        await register_ofd(service)
        register = Register(service.ofd_handler)
        frame = register.frame(sale())
        await register.send_frame(frame)
        document_token = register.token
        info = register.frame(ofd_pb2.Request(command=ofd_pb2.COMMAND_INFO))
        _, _, info_answer = await register.send_frame(info)
    # The gateway stops (a SIGKILL after the fsync is the same for the journal) before the register got
    # the INFO answer; it resends it to the gateway started again.
    async with running(settings) as service:
        register.handler = service.ofd_handler
        assert (await register.send_frame(info))[2] == info_answer
        assert register.token == document_token
        register.reqnum -= 2
        _, response, _ = await register.send_frame(frame)
        assert response.result.result_code == ResultCode.INVALID_TOKEN, "only the last exchange is kept"
        assert (await register.send(sale(5))).result.result_code == 0
        assert await receipts(service) == 2


async def test_a_resend_after_the_exchange_left_the_journal_is_answered_from_clickhouse(
    tmp_path: Path,
) -> None:
    # Small segments: once shipped, the segment holding the exchange is deleted from the journal.
    settings = ofd_settings(tmp_path / "data", journal_segment_bytes=4096)
    async with running(settings) as service:
        await register_ofd(service)
        await register_ofd(service, "KKM-200002", 200002, 42, "010101012346")
        register, other = Register(service.ofd_handler), Register(service.ofd_handler, 200002, 42)
        frame = register.frame(sale())
        _, _, answer = await register.send_frame(frame)
        for n in range(20):  # another register fills new segments
            assert (await other.send(sale(n))).result.result_code == 0
        await shipped(service)
        await service.shipper.flush()
        journal_logs = [pb.JournalRecord.FromString(r).ofd_exchange for r in service.journal.replay()]
        assert all(log.ofd_id != 200001 for log in journal_logs), "the exchange is no longer in the journal"
    async with running(settings) as service:
        register.handler = service.ofd_handler
        assert (await register.send_frame(frame))[2] == answer
        assert await receipts(service) == 21


async def test_refusals_are_for_protocol_faults_unknown_and_revoked_registers_only(
    service: GatewayService, register: Register,
) -> None:
    def answer_code(answer: bytes) -> int:
        return ofd_pb2.Response.FromString(split_frame(answer)[1]).result.result_code

    header, _ = split_frame(register.frame(sale()))
    assert answer_code(await register.handler.exchange(header, b"\xff\xff\xff")) == ResultCode.PROTOCOL_ERROR
    broken = sale()
    broken.ticket.ClearField("amounts")
    response = await register.send(ofd_pb2.Request(command=ofd_pb2.COMMAND_TICKET, ticket=broken.ticket))
    assert response.result.result_code == ResultCode.PROTOCOL_ERROR
    assert "ticket.amounts" in response.result.result_text
    no_body = await register.send(ofd_pb2.Request(command=ofd_pb2.COMMAND_TICKET))
    assert no_body.result.result_code == ResultCode.PROTOCOL_ERROR
    reserved = await register.send(ofd_pb2.Request(command=ofd_pb2.COMMAND_RESERVED))
    assert reserved.result.result_code == ResultCode.UNSUPPORTED_COMMAND
    unknown_command = b"\x08\x2a"  # command 42: no version of the protocol has it
    header, _ = split_frame(register.frame(sale()))
    answer = await register.handler.exchange(header, unknown_command)
    assert answer_code(answer) == ResultCode.UNKNOWN_COMMAND
    stranger = Register(register.handler, ofd_id=999_999)
    assert (await stranger.send(sale())).result.result_code == ResultCode.UNKNOWN_ID
    device = service.registry.get("KKM-200001")
    assert device is not None
    gone = revoked(device)
    await service.storage.run(lambda c: save_device(c, service.storage.database, gone))
    service.registry.put(gone)
    assert (await register.send(sale())).result.result_code == ResultCode.BLOCKED
    assert await receipts(service) == 0
    rejections = await rows(service, "SELECT count() FROM {db}.rejections")
    assert rejections == [(0,)], "refused frames leave no rows"


async def test_a_token_set_by_the_operator_is_the_one_to_use(
    service: GatewayService, register: Register,
) -> None:
    await register.send(sale())
    device = service.registry.get("KKM-200001")
    assert device is not None
    reset = with_token(device, 1234, service.ofd_keys)
    service.registry.put(reset)
    assert (await register.send(sale(1))).result.result_code == ResultCode.INVALID_TOKEN
    register.token = 1234
    assert (await register.send(sale(2))).result.result_code == 0


async def test_registers_answered_together_share_a_group_commit_and_each_resend_survives_a_restart(
    settings: Settings,
) -> None:
    async with running(settings) as service:
        registers = []
        for n in range(8):
            await register_ofd(service, f"KKM-30000{n}", 300_000 + n, 3_000_000_100 + n, f"01010101230{n}")
            registers.append(Register(service.ofd_handler, ofd_id=300_000 + n, token=3_000_000_100 + n))
        frames = [register.frame(sale(n)) for n, register in enumerate(registers)]
        groups = service.journal.groups
        answers = await asyncio.gather(*(r.send_frame(f) for r, f in zip(registers, frames, strict=True)))
        assert [response.result.result_code for _, response, _ in answers] == [0] * 8
        assert service.journal.groups - groups == 1, "eight documents, one journal write and fsync"
        numbers = {response.ticket.ticket_number for _, response, _ in answers}
        assert len(numbers) == 8
    # Every answer had left only once the commit held its exchange: after a restart each register's resend
    # gets its own answer byte for byte, and nothing is counted twice.
    async with running(settings) as service:
        for register, frame, (_, _, answer) in zip(registers, frames, answers, strict=True):
            register.handler = service.ofd_handler
            assert (await register.send_frame(frame))[2] == answer
        assert await receipts(service) == 8

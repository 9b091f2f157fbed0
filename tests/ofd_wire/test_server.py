"""The OFD front door's transport over loopback TCP, with a small handler that answers a fixed Response:
time limits, size limits, broken frames, several exchanges a connection, many connections, TLS."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.observability.prometheus import Registry
from gateway.ofd.framing import (
    HEADER,
    HEADER_SIZE,
    FrameHeader,
    ResultCode,
    decode_request,
    decode_response,
    encode_frame,
)
from gateway.ofd.handler import answer_frame
from gateway.ofd.server import OfdFrontDoor, OfdMetrics
from gateway.settings import Settings
from gateway.wire import ofd_pb2
from tests.e2e.test_tls import _certificate


class FixedAnswer:
    """Answers every request OK with ticket number "1" and the next token; records what it was given."""

    def __init__(self, delay_s: float = 0.0, fail: bool = False) -> None:
        self.delay_s = delay_s
        self.fail = fail
        self.calls: list[tuple[FrameHeader, bytes]] = []
        self.finished = 0

    async def exchange(self, header: FrameHeader, payload: bytes) -> bytes:
        """The fixed answer to any request."""
        self.calls.append((header, payload))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail:
            raise RuntimeError("the handler broke")
        self.finished += 1
        response = ofd_pb2.Response(
            command=decode_request(payload).message.command,
            result=ofd_pb2.Result(result_code=0),
            ticket=ofd_pb2.TicketResponse(ticket_number="1"),
        )
        return answer_frame(header, response, token=header.token + 1)


def ticket_frame(reqnum: int = 1, *, device_id: int = 200001, token: int = 3_000_000_001,
                 version: int = 203) -> bytes:
    """A TICKET request frame (its content does not matter to the transport)."""
    request = ofd_pb2.Request(command=ofd_pb2.COMMAND_TICKET)
    request.ticket.operation = ofd_pb2.OPERATION_SELL
    request.ticket.amounts.total.bills = 100
    request.ticket.amounts.total.coins = 0
    return encode_frame(request.SerializePartialToString(), version=version, device_id=device_id,
                        token=token, reqnum=reqnum)


def raw_header(*, appcode: int = 0x81A2, version: int = 203, size: int = 18, device_id: int = 9,
               token: int = 5, reqnum: int = 77) -> bytes:
    """A header with any field values, sane or not."""
    return HEADER.pack(appcode, version, size, device_id, token, reqnum)


@dataclasses.dataclass
class Door:
    """A started front door, its handler and its metrics."""

    door: OfdFrontDoor
    handler: FixedAnswer
    registry: Registry

    @property
    def port(self) -> int:
        """The port it listens on."""
        return self.door.addresses[0][1]

    async def connect(self, ssl_context: ssl.SSLContext | None = None) -> tuple[
        asyncio.StreamReader, asyncio.StreamWriter
    ]:
        """A client connection."""
        return await asyncio.open_connection(
            "127.0.0.1", self.port, ssl=ssl_context, server_hostname="localhost" if ssl_context else None
        )

    async def exchange(
        self, frame: bytes, ssl_context: ssl.SSLContext | None = None, *, then_eof: bool = False
    ) -> bytes:
        """One connection, one request, its whole answer (b"" if the connection closed without one);
        then_eof: the client says it has nothing more to send."""
        reader, writer = await self.connect(ssl_context)
        try:
            writer.write(frame)
            if then_eof:
                writer.write_eof()
            return await read_answer(reader)
        finally:
            writer.close()

    def metric(self, line_start: str) -> float:
        """The value of the exposition line starting with line_start, 0 if absent."""
        for line in self.registry.render().splitlines():
            if line.startswith(line_start + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0


async def read_answer(reader: asyncio.StreamReader, timeout_s: float = 5.0) -> bytes:
    """One answer frame, or b"" when the server closed first."""
    async with asyncio.timeout(timeout_s):
        try:
            head = await reader.readexactly(HEADER_SIZE)
        except (asyncio.IncompleteReadError, ConnectionResetError):
            return b""
        return head + await reader.readexactly(unchecked_header(head).payload_size)


def unchecked_header(data: bytes) -> FrameHeader:
    """The header fields as they are (an answer to an unknown version echoes that version)."""
    _, version, size, device_id, token, reqnum = HEADER.unpack_from(data)
    return FrameHeader(version, size, device_id, token, reqnum)


def result_of(answer: bytes) -> tuple[FrameHeader, int, str]:
    """Header, result code and text of an answer frame."""
    header = unchecked_header(answer)
    response = decode_response(answer[HEADER_SIZE:]).message
    return header, response.result.result_code, response.result.result_text


StartDoor = Callable[..., Awaitable[Door]]


@pytest.fixture
async def start_door() -> AsyncIterator[StartDoor]:
    """start_door(handler=None, **settings) -> a front door on 127.0.0.1, port 0; stopped afterwards."""
    started: list[OfdFrontDoor] = []

    async def start(handler: FixedAnswer | None = None, **overrides: Any) -> Door:
        settings = dataclasses.replace(Settings(host="127.0.0.1"), **overrides)
        registry = Registry()
        handler = handler or FixedAnswer()
        door = OfdFrontDoor(settings, handler, OfdMetrics(registry))
        await door.start()
        started.append(door)
        return Door(door, handler, registry)

    yield start
    for door in started:
        await door.stop()


async def test_a_request_is_answered_with_its_id_and_reqnum(start_door: StartDoor) -> None:
    door = await start_door()
    header, code, _ = result_of(await door.exchange(ticket_frame(reqnum=65535)))
    assert (header.device_id, header.reqnum, header.token, header.version, code) == (
        200001, 65535, 3_000_000_002, 203, ResultCode.OK)
    assert door.handler.calls[0][0] == FrameHeader(203, len(ticket_frame()), 200001, 3_000_000_001, 65535)
    assert door.metric('tracegate_ofd_frames_total{command="TICKET",result="OK"}') == 1
    assert door.metric('tracegate_ofd_answer_duration_seconds_count{command="TICKET"}') == 1


async def test_several_exchanges_share_a_connection_even_when_pipelined(start_door: StartDoor) -> None:
    door = await start_door()
    reader, writer = await door.connect()
    for reqnum in (1, 2):
        writer.write(ticket_frame(reqnum))
        assert result_of(await read_answer(reader))[0].reqnum == reqnum
    writer.write(ticket_frame(3) + ticket_frame(4))  # two frames in one write: read to SIZE, then the next
    assert [result_of(await read_answer(reader))[0].reqnum for _ in range(2)] == [3, 4]
    writer.close()
    assert door.metric("tracegate_ofd_connections_total") == 1


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (raw_header(size=10), "size_too_small"),
        (raw_header(size=4097), "size_too_large"),
        (raw_header(version=124, size=20) + b"\x08\x05", "unknown_version"),
    ],
)
async def test_a_bad_header_is_answered_protocol_error_and_the_door_serves_on(
    start_door: StartDoor, frame: bytes, reason: str
) -> None:
    door = await start_door(ofd_max_frame_bytes=4096)
    reader, writer = await door.connect()
    writer.write(frame)
    header, code, text = result_of(await read_answer(reader))
    assert (header.device_id, header.reqnum, header.token, code) == (9, 77, 5, ResultCode.PROTOCOL_ERROR)
    assert text
    assert await reader.read() == b""  # and the connection is over
    writer.close()
    assert door.metric(f'tracegate_ofd_protocol_errors_total{{reason="{reason}"}}') == 1
    assert not door.handler.calls
    assert result_of(await door.exchange(ticket_frame()))[1] == ResultCode.OK


async def test_bytes_that_are_not_ofd_get_no_answer(start_door: StartDoor) -> None:
    door = await start_door()
    assert await door.exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == b""
    assert await door.exchange(b"\xa2\x81\xcb", then_eof=True) == b""  # it ends inside the header
    assert door.metric('tracegate_ofd_protocol_errors_total{reason="bad_appcode"}') == 1
    assert door.metric('tracegate_ofd_protocol_errors_total{reason="short_header"}') == 1
    assert result_of(await door.exchange(ticket_frame()))[1] == ResultCode.OK


async def test_a_truncated_payload_is_answered_protocol_error(start_door: StartDoor) -> None:
    door = await start_door()
    reader, writer = await door.connect()
    writer.write(ticket_frame()[:-3])
    writer.write_eof()  # the register stops sending but still listens
    header, code, _ = result_of(await read_answer(reader))
    assert (header.reqnum, code) == (1, ResultCode.PROTOCOL_ERROR)
    writer.close()
    assert door.metric('tracegate_ofd_protocol_errors_total{reason="truncated"}') == 1


async def test_a_slow_sender_is_cut_off_and_others_are_served_meanwhile(start_door: StartDoor) -> None:
    door = await start_door(ofd_read_timeout_s=0.5)
    reader, writer = await door.connect()
    frame = ticket_frame()
    writer.write(frame[:HEADER_SIZE])
    began = time.monotonic()

    async def trickle() -> None:  # a byte every 0.1 s: each arrives in time, the whole never does
        for byte in frame[HEADER_SIZE:]:
            await asyncio.sleep(0.1)
            writer.write(bytes([byte]))

    trickling = asyncio.create_task(trickle())
    assert result_of(await door.exchange(ticket_frame(reqnum=2)))[1] == ResultCode.OK
    header, code, _ = result_of(await read_answer(reader))
    assert (header.reqnum, code) == (1, ResultCode.PROTOCOL_ERROR)
    assert 0.4 < time.monotonic() - began < 2.0
    trickling.cancel()
    writer.close()
    assert door.metric('tracegate_ofd_protocol_errors_total{reason="read_timeout"}') == 1
    assert len(door.handler.calls) == 1


async def test_a_header_that_never_completes_and_a_silent_connection_are_closed(
    start_door: StartDoor,
) -> None:
    door = await start_door(ofd_read_timeout_s=0.3)
    silent_reader, silent_writer = await door.connect()
    reader, writer = await door.connect()
    writer.write(ticket_frame()[:5])
    assert await read_answer(reader) == b""
    assert await read_answer(silent_reader) == b""
    writer.close()
    silent_writer.close()
    assert door.metric('tracegate_ofd_protocol_errors_total{reason="read_timeout"}') == 1
    assert door.metric("tracegate_ofd_connections_open") == 0


async def test_a_handler_slower_than_the_exchange_limit_finishes_after_the_connection_ends(
    start_door: StartDoor,
) -> None:
    door = await start_door(FixedAnswer(delay_s=0.6), ofd_exchange_timeout_s=0.3)
    assert await door.exchange(ticket_frame()) == b""
    assert door.handler.finished == 0
    await asyncio.sleep(0.5)
    assert door.handler.finished == 1  # not cancelled: its answer would be stored for the resend
    assert door.metric('tracegate_ofd_exchange_failures_total{reason="exchange_timeout"}') == 1


async def test_a_failing_handler_is_answered_unknown_error_and_the_connection_goes_on(
    start_door: StartDoor,
) -> None:
    handler = FixedAnswer(fail=True)
    door = await start_door(handler)
    reader, writer = await door.connect()
    writer.write(ticket_frame(1))
    header, code, _ = result_of(await read_answer(reader))
    assert (header.reqnum, code) == (1, ResultCode.UNKNOWN_ERROR)
    handler.fail = False
    writer.write(ticket_frame(2))
    assert result_of(await read_answer(reader))[1:2] == (ResultCode.OK,)
    writer.close()
    assert door.metric('tracegate_ofd_exchange_failures_total{reason="handler_error"}') == 1


async def test_two_hundred_registers_at_once(start_door: StartDoor) -> None:
    door = await start_door(FixedAnswer(delay_s=0.05))

    async def one(n: int) -> int:
        return result_of(await door.exchange(ticket_frame(reqnum=n, device_id=300000 + n)))[0].device_id

    assert sorted(await asyncio.gather(*(one(n) for n in range(200)))) == [300000 + n for n in range(200)]
    assert door.metric("tracegate_ofd_connections_total") == 200


async def test_connections_over_the_limit_are_closed_at_once(start_door: StartDoor) -> None:
    door = await start_door(ofd_max_connections=2)
    held = [await door.connect() for _ in range(2)]
    await asyncio.sleep(0.05)  # both accepted
    assert await door.exchange(ticket_frame()) == b""
    assert door.metric('tracegate_ofd_refused_total{reason="connection_limit"}') == 1
    for _, writer in held:
        writer.close()
    await asyncio.sleep(0.05)
    assert result_of(await door.exchange(ticket_frame()))[1] == ResultCode.OK


async def test_an_address_over_its_rate_is_told_to_retry_later(start_door: StartDoor) -> None:
    door = await start_door(ofd_rate_remote_per_s=0.5, ofd_rate_remote_burst=2)
    codes = [result_of(await door.exchange(ticket_frame(reqnum=n)))[1] for n in range(3)]
    assert codes == [ResultCode.OK, ResultCode.OK, ResultCode.SERVICE_TEMPORARILY_UNAVAILABLE]
    assert len(door.handler.calls) == 2


async def test_tls_when_configured(start_door: StartDoor, tmp_path: Path) -> None:
    ca = _certificate(tmp_path / "ca", "tracegate test CA", None, ca=True)
    _certificate(tmp_path / "server", "localhost", ca)
    door = await start_door(ofd_tls_cert_file=str(tmp_path / "server.crt"),
                            ofd_tls_key_file=str(tmp_path / "server.key"))
    client = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
    assert result_of(await door.exchange(ticket_frame(), client))[1] == ResultCode.OK
    assert await door.exchange(ticket_frame()) == b""  # plain TCP to a TLS door: no OFD answer


async def test_stop_lets_a_handler_in_flight_finish(start_door: StartDoor) -> None:
    door = await start_door(FixedAnswer(delay_s=0.3))
    port = door.port
    _, writer = await door.connect()
    writer.write(ticket_frame())
    await asyncio.sleep(0.1)
    await door.door.stop()
    assert door.handler.finished == 1
    writer.close()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


async def test_a_frame_cut_short_behind_an_answered_one_is_refused_at_the_end_of_input(
    start_door: StartDoor,
) -> None:
    door = await start_door(FixedAnswer(delay_s=0.1), ofd_read_timeout_s=5.0)
    reader, writer = await door.connect()
    writer.write(ticket_frame(1) + ticket_frame(2)[:-4])
    writer.write_eof()  # sent while the first request is with the handler
    began = time.monotonic()
    first, second = result_of(await read_answer(reader)), result_of(await read_answer(reader))
    assert (first[0].reqnum, first[1]) == (1, ResultCode.OK)
    assert (second[0].reqnum, second[1]) == (2, ResultCode.PROTOCOL_ERROR)
    assert time.monotonic() - began < 2.0  # not after the read timeout: nothing more can come
    assert await reader.read() == b""
    writer.close()

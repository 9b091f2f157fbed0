"""What the OFD port tells a caller who does not hold a register's token, over loopback TCP against the real
front door and handler: a revoked register is told apart from any other only by its own token, and an
address that keeps guessing a register's token is answered 254 for that register while the register itself,
from its own address, goes on working (docs/ofd.md, "Who learns what on the OFD port")."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.devices import revoked
from gateway.observability.prometheus import Registry
from gateway.ofd.framing import (
    HEADER_SIZE,
    FrameHeader,
    ResultCode,
    decode_response,
    encode_frame,
    next_reqnum,
    parse_header,
)
from gateway.ofd.server import OfdFrontDoor, OfdMetrics
from gateway.service import GatewayService
from gateway.storage.device_store import save_device
from gateway.wire import ofd_pb2
from tests.ofd.conftest import ofd_settings, register_ofd, running
from tests.ofd.registers import commodity, ticket

pytestmark = pytest.mark.clickhouse

REGISTER = "127.0.0.1"  # the register's own address
GUESSER = "127.0.0.2"  # another source on the loopback network (all of 127/8 is the host's own)


@dataclasses.dataclass
class Door:
    """The real front door on a free loopback port, in front of the test gateway's handler."""

    door: OfdFrontDoor
    metrics: Registry

    async def send(self, frame: bytes, source: str = REGISTER) -> tuple[FrameHeader, ofd_pb2.Response]:
        """One connection from source (a loopback address), one request, its answer."""
        port = self.door.addresses[0][1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        try:
            writer.write(frame)
            async with asyncio.timeout(10):
                head = await reader.readexactly(HEADER_SIZE)
                header = parse_header(head, 1 << 20)
                payload = await reader.readexactly(header.payload_size)
        finally:
            writer.close()
        return header, decode_response(payload).message

    def metric(self, line_start: str) -> float:
        """The value of the exposition line starting with line_start, 0 if absent."""
        for line in self.metrics.render().splitlines():
            if line.startswith(line_start + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0


@contextlib.asynccontextmanager
async def front_door(service: GatewayService) -> AsyncIterator[Door]:
    """The front door the gateway's HTTP app would start, with metrics of its own."""
    registry = Registry()
    door = OfdFrontDoor(service.settings, service.ofd_handler, OfdMetrics(registry))
    await door.start()
    try:
        yield Door(door, registry)
    finally:
        await door.stop()


@contextlib.asynccontextmanager
async def gateway(tmp_path: Path, **overrides: object) -> AsyncIterator[tuple[GatewayService, Door]]:
    """A gateway with registers 200001 and 200002 and its OFD front door on 127.0.0.1, port 0."""
    settings = ofd_settings(tmp_path / "data", host="127.0.0.1", ofd_port=0, **overrides)
    async with running(settings) as service:
        await register_ofd(service)
        await register_ofd(service, "KKM-200002", 200002, 3_000_000_002, "010101012346")
        async with front_door(service) as door:
            yield service, door


@dataclasses.dataclass
class Register:
    """An OFD register's ID, current token and REQNUM, as the register keeps them."""

    ofd_id: int = 200001
    token: int = 3_000_000_001
    reqnum: int = 0

    def frame(self, request: ofd_pb2.Request, *, token: int | None = None) -> bytes:
        """The request's frame with the register's token (or another) and the next REQNUM."""
        self.reqnum = next_reqnum(self.reqnum)
        return encode_frame(request.SerializeToString(), version=203, device_id=self.ofd_id,
                            token=self.token if token is None else token, reqnum=self.reqnum)

    async def send(self, door: Door, request: ofd_pb2.Request, *, source: str = REGISTER,
                   token: int | None = None) -> ofd_pb2.Response:
        """Send over TCP from source; an OK answer's new token is kept, as a register keeps it."""
        header, response = await door.send(self.frame(request, token=token), source)
        if response.result.result_code == ResultCode.OK and token is None:
            self.token = header.token
        return response


def sale() -> ofd_pb2.Request:
    when = time.time_ns() // 1_000_000 // 1000 * 1000 - 60_000
    return ofd_pb2.Request(command=ofd_pb2.COMMAND_TICKET, ticket=ticket(when, [commodity("Bread", 25_000)]))


INFO = ofd_pb2.Request(command=ofd_pb2.COMMAND_INFO)


def result(response: ofd_pb2.Response) -> tuple[int, str]:
    return response.result.result_code, response.result.result_text


async def test_a_revoked_register_is_told_so_only_with_its_own_token(tmp_path: Path) -> None:
    async with gateway(tmp_path) as (service, door):
        register, other = Register(), Register(200002, 3_000_000_002)
        assert (await register.send(door, sale())).result.result_code == ResultCode.OK
        issued = register.token
        assert issued != 3_000_000_001, "a document rotates the token"
        wrong_for_active = result(await other.send(door, INFO, token=12345))
        assert wrong_for_active[0] == ResultCode.INVALID_TOKEN

        device = service.registry.get("KKM-200001")
        assert device is not None
        gone = revoked(device)
        await service.storage.run(lambda c: save_device(c, service.storage.database, gone))
        service.registry.put(gone)

        for guess in (12345, issued + 1, 0):
            answer = result(await register.send(door, INFO, token=guess, source=GUESSER))
            assert answer == wrong_for_active, "a wrong token learns nothing of the revocation"
        # The register itself, with the token it was given, is told it is deregistered, as before.
        for request in (INFO, sale()):
            answer = result(await register.send(door, request))
            assert answer == (ResultCode.BLOCKED, "this register is deregistered")


async def test_an_address_out_of_wrong_tokens_is_answered_busy_while_the_register_goes_on(
    tmp_path: Path,
) -> None:
    async with gateway(tmp_path, ofd_token_failures_burst=3, ofd_token_failures_per_min=1.0) as (_, door):
        register, other = Register(), Register(200002, 3_000_000_002)
        for guess in (11, 12, 13):
            answer = await register.send(door, INFO, token=guess, source=GUESSER)
            assert answer.result.result_code == ResultCode.INVALID_TOKEN
        for guess in (14, register.token):  # the right token too: it is not even looked at
            answer = await register.send(door, INFO, token=guess, source=GUESSER)
            assert result(answer) == (ResultCode.SERVICE_TEMPORARILY_UNAVAILABLE,
                                      "too many wrong tokens for this ID from this address; retry later")
        assert door.metric('tracegate_ofd_refused_total{reason="token_failures"}') == 2

        # The register, from its own address, is judged as ever: it sells and its token rotates.
        assert (await register.send(door, sale())).result.result_code == ResultCode.OK
        assert (await register.send(door, INFO)).result.result_code == ResultCode.OK
        # The guessing address is refused only for the register it guessed at.
        assert (await other.send(door, INFO, source=GUESSER)).result.result_code == ResultCode.OK
        # Three guesses were judged, no more.
        assert door.metric('tracegate_ofd_frames_total{command="INFO",result="INVALID_TOKEN"}') == 3

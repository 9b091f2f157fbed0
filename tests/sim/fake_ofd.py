"""A test double of an OFD, for the OFD register simulator's tests only: the TOKEN/REQNUM rules of the
design document (§4) over the real front door transport, a ledger of what each register sent, and
scripted refusals. The real answers (tracegate's OfdHandler) are tested on their own side.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from gateway.observability.prometheus import Registry
from gateway.ofd.framing import Command, FrameError, FrameHeader, ResultCode, decode_request
from gateway.ofd.handler import answer_frame, result_answer
from gateway.ofd.server import OfdFrontDoor, OfdMetrics
from gateway.settings import Settings
from gateway.wire import ofd_pb2

DOCUMENTS = (Command.TICKET, Command.CLOSE_SHIFT, Command.MONEY_PLACEMENT)


@dataclass
class Last:
    """A register's last accepted exchange."""

    token: int
    reqnum: int
    command: int
    answer: bytes


@dataclass
class FakeOfd:
    """Registered tokens, the last exchange of each register, and the documents accepted in order."""

    tokens: dict[int, int] = field(default_factory=dict)  # OFD id -> the token it must use next
    last: dict[int, Last] = field(default_factory=dict)
    documents: dict[int, list[ofd_pb2.Request]] = field(default_factory=dict)
    requests: list[tuple[FrameHeader, ofd_pb2.Request]] = field(default_factory=list)
    incomplete: list[tuple[str, ...]] = field(default_factory=list)
    refuse: dict[int, int] = field(default_factory=dict)  # the n-th document (1-based, any register) -> code
    unavailable: int = 0  # answer this many next requests 254
    learn_tokens: bool = False  # an unknown ID is registered with the token it first comes with
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(4_228_000_000))
    _seen_documents: int = 0

    async def exchange(self, header: FrameHeader, payload: bytes) -> bytes:
        """The §4 rules, then an answer; never raises."""
        try:
            decoded = decode_request(payload)
        except FrameError as error:
            return result_answer(header, ResultCode.PROTOCOL_ERROR, error.detail, command=None)
        if not decoded.complete:
            self.incomplete.append(decoded.missing)
            return result_answer(header, ResultCode.PROTOCOL_ERROR, "missing fields", command=decoded.command)
        request, command = decoded.message, decoded.command
        assert command is not None
        self.requests.append((header, request))
        if self.unavailable:
            self.unavailable -= 1
            return result_answer(header, ResultCode.SERVICE_TEMPORARILY_UNAVAILABLE, "busy", command=command)
        if self.learn_tokens:
            self.tokens.setdefault(header.device_id, header.token)
        issued = self.tokens.get(header.device_id)
        if issued is None:
            return result_answer(header, ResultCode.UNKNOWN_ID, "", command=command)
        last = self.last.get(header.device_id)
        if last is not None and (header.token, header.reqnum) == (last.token, last.reqnum):
            if command == last.command:
                return last.answer  # a resend: the stored answer, nothing counted
            return result_answer(header, ResultCode.INVALID_RETRY_REQUEST, "", command=command)
        if header.token != issued:
            return result_answer(header, ResultCode.INVALID_TOKEN, "", command=command)
        if last is not None and header.reqnum == last.reqnum:
            return result_answer(header, ResultCode.INVALID_REQUEST_NUMBER, "", command=command)
        response = ofd_pb2.Response(command=command, result=ofd_pb2.Result(result_code=0))  # type: ignore[arg-type]
        token = header.token
        if command in DOCUMENTS:
            self._seen_documents += 1
            code = self.refuse.get(self._seen_documents)
            if code is not None:
                return result_answer(header, ResultCode(code), "refused as the test asked", command=command)
            self.documents.setdefault(header.device_id, []).append(request)
            token = (header.token * 1_103_515_245 + 12_345) % 2**32 or 1
            self.tokens[header.device_id] = token
            if command == Command.TICKET:
                response.ticket.ticket_number = str(next(self._numbers))
            if command == Command.CLOSE_SHIFT:
                response.report.report = ofd_pb2.REPORT_Z
                response.report.zx_report.CopyFrom(request.close_shift.z_report)
        elif command == Command.REPORT:
            response.report.report = request.report.report
        answer = answer_frame(header, response, token=token)
        self.last[header.device_id] = Last(header.token, header.reqnum, command, answer)
        return answer


@asynccontextmanager
async def serving(fake: FakeOfd) -> AsyncIterator[tuple[str, int]]:
    """The fake behind the real front door on 127.0.0.1, port 0; yields its address."""
    settings = dataclasses.replace(Settings(host="127.0.0.1"), ofd_rate_remote_per_s=0)
    door = OfdFrontDoor(settings, fake, OfdMetrics(Registry()))
    await door.start()
    try:
        yield door.addresses[0]
    finally:
        await door.stop()

"""A register's line to the OFD: one TCP connection per exchange, its queue worked off strictly in order.

An exchange that gets no answer in the transaction time, or 254/255, sends the register offline: it
tries again every reconnect interval with the same TOKEN and REQNUM, and says how long it was offline
(in the document caught by the break, else in a SYSTEM request first). Any other refusal blocks it.
`lost_answer_rate` drops answers on purpose: the register resends the same bytes at once, and the OFD
must answer with the very same bytes (a mismatch is counted). With an ack log, every answer to a document
is one line (`answer_line`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from firmware_sim.ofd.register import Document, OfdRegister
from firmware_sim.summary import AckLog
from gateway.ofd.framing import (
    HEADER_SIZE,
    Command,
    FrameError,
    FrameHeader,
    ResultCode,
    decode_response,
    parse_header,
)
from gateway.wire import ofd_pb2

TRANSIENT = (ResultCode.SERVICE_TEMPORARILY_UNAVAILABLE, ResultCode.UNKNOWN_ERROR)
MAX_ANSWER_BYTES = 5 * 1024 * 1024  # what register clients accept


class LinkDown(Exception):
    """No answer: no connection, a timeout, a broken or garbled answer."""


@dataclass
class OfdStats:
    """What a fleet's registers sent and what came back."""

    exchanges: Counter[str] = field(default_factory=Counter)  # "TICKET OK", "SYSTEM BLOCKED" …
    documents_ok: Counter[str] = field(default_factory=Counter)  # documents answered OK, by command
    offline_documents: int = 0  # made offline (numbered by the register)
    link_failures: Counter[str] = field(default_factory=Counter)
    lost_answers: int = 0
    resends: int = 0
    replay_mismatches: int = 0  # a resend answered with other bytes than the lost answer
    blocked: dict[str, str] = field(default_factory=dict)  # device id -> "code NAME: text"
    max_backlog: int = 0
    answer_ms: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The summary's OFD part."""
        answers = sorted(self.answer_ms)
        return {
            "exchanges": dict(sorted(self.exchanges.items())),
            "documents_ok": dict(sorted(self.documents_ok.items())),
            "offline_documents": self.offline_documents,
            "link_failures": dict(self.link_failures),
            "lost_answers": self.lost_answers,
            "resends": self.resends,
            "replay_mismatches": self.replay_mismatches,
            "blocked": self.blocked,
            "max_backlog": self.max_backlog,
            "answer_p50_ms": round(answers[len(answers) // 2], 2) if answers else 0.0,
            "answer_p99_ms": round(answers[int(len(answers) * 0.99)], 2) if answers else 0.0,
        }


async def exchange(host: str, port: int, frame: bytes, timeout_s: float,
                   ssl_context: ssl.SSLContext | None = None) -> bytes:
    """One exchange on its own connection: send the frame, read exactly one answer frame, close."""
    writer = None
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(host, port, ssl=ssl_context)
            writer.write(frame)
            head = await reader.readexactly(HEADER_SIZE)
            header = parse_header(head, MAX_ANSWER_BYTES)
            return head + await reader.readexactly(header.payload_size)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, FrameError) as exc:
        raise LinkDown(type(exc).__name__) from exc
    finally:
        if writer is not None:
            writer.close()


class OfdLink:
    """One register's exchanges with the OFD."""

    def __init__(self, register: OfdRegister, address: tuple[str, int], stats: OfdStats, *,
                 rng: random.Random, lost_answer_rate: float = 0.0, transaction_s: float = 7.0,
                 reconnect_s: float = 60.0, ssl_context: ssl.SSLContext | None = None,
                 ack_log: AckLog | None = None) -> None:
        self.register = register
        self.host, self.port = address
        self.stats = stats
        self.rng = rng
        self.lost_answer_rate = lost_answer_rate
        self.transaction_s = transaction_s
        self.reconnect_s = reconnect_s
        self.ssl_context = ssl_context
        self.ack_log = ack_log
        self.wake = asyncio.Event()
        self.retry_at = 0.0  # monotonic time of the next try while offline
        self.reported_since = 0  # the offline period (its start) a SYSTEM request has told the OFD about
        self._waiters: dict[int, asyncio.Event] = {}

    # ── one exchange ──

    async def _exchange(self, frame: bytes, command: int) -> tuple[FrameHeader, ofd_pb2.Response] | None:
        """Send a frame and read its answer (None: the line is down); maybe lose the answer on purpose and
        resend the same bytes, as a register does when the connection breaks before the answer is read."""
        started = time.monotonic()
        try:
            answer = await exchange(self.host, self.port, frame, self.transaction_s, self.ssl_context)
            if self.lost_answer_rate and command in _DOCUMENTS and self.rng.random() < self.lost_answer_rate:
                self.stats.lost_answers += 1
                self.stats.resends += 1
                again = await exchange(self.host, self.port, frame, self.transaction_s, self.ssl_context)
                self.stats.replay_mismatches += again != answer
                answer = again
            header, payload = parse_header(answer, MAX_ANSWER_BYTES), answer[HEADER_SIZE:]
            decoded = decode_response(payload)
        except (LinkDown, FrameError) as exc:
            self.stats.link_failures[str(exc.args[0]) if exc.args else type(exc).__name__] += 1
            return None
        self.stats.answer_ms.append((time.monotonic() - started) * 1000)
        code = decoded.message.result.result_code
        self.stats.exchanges[f"{_name(Command, command)} {_name(ResultCode, code)}"] += 1
        return header, decoded.message

    def _went_down(self) -> None:
        self.register.go_offline()
        self.retry_at = time.monotonic() + self.reconnect_s

    # ── what the register asks outside its queue ──

    async def start_up(self) -> bool:
        """INFO, as a register does when it starts: True if the OFD answered OK."""
        return await self.request(self.register.info())

    async def request(self, request: ofd_pb2.Request) -> bool:
        """A request outside the queue (INFO, REPORT, SYSTEM): True if answered OK."""
        register = self.register
        result = await self._exchange(register.frame(request), request.command)
        if result is None:
            self._went_down()
            return False
        header, response = result
        code = response.result.result_code
        if code == ResultCode.OK:
            register.answered(header, response, None)
            return True
        if code in TRANSIENT:
            self._went_down()
        else:
            self._blocked(code, response.result.result_text)
        return False

    # ── documents ──

    async def deliver(self, document: Document) -> None:
        """Hand a new document over: an online one is sent now and this returns once it is answered or
        the register went offline with it; an offline one just joins the queue."""
        self.stats.max_backlog = max(self.stats.max_backlog, len(self.register.pending))
        if document.offline:
            self.stats.offline_documents += 1
            self.wake.set()
            return
        done = self._waiters[id(document)] = asyncio.Event()
        self.wake.set()
        await done.wait()

    async def run(self, online: Callable[[], bool], stop: Callable[[], bool]) -> None:
        """Work the queue off, head first, whenever there is a line; until stop() or a block."""
        register = self.register
        while not stop() and register.blocked is None:
            if not register.pending or (register.offline and time.monotonic() < self.retry_at):
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=0.2)
                continue
            document = register.pending[0]
            if not online():
                self.stats.link_failures["no_network"] += 1
                self._went_down()
                self._settle(document)
                continue
            if register.offline and not document.sent and self.reported_since != register.offline_since_ms:
                # Back from an offline period that caught no document in flight: SYSTEM tells it first.
                if not await self.request(register.system()):
                    self._settle(document)
                    continue
                self.reported_since = register.offline_since_ms
            await self._send(document)
        for waiter in self._waiters.values():
            waiter.set()

    async def _send(self, document: Document) -> None:
        register = self.register
        result = await self._exchange(register.frame(document.request, document), document.command)
        if result is None:
            self._went_down()  # the document stays at the head: it goes again with its TOKEN and REQNUM
        else:
            header, response = result
            code = response.result.result_code
            if self.ack_log is not None:
                self.ack_log.write_line(answer_line(register, document, response))
            if code == ResultCode.OK:
                register.answered(header, response, document)
                self.stats.documents_ok[_name(Command, document.command)] += 1
            elif code in TRANSIENT:
                self._went_down()
            else:
                self._blocked(code, response.result.result_text)
        self._settle(document)

    def _settle(self, document: Document) -> None:
        waiter = self._waiters.pop(id(document), None)
        if waiter is not None:
            waiter.set()

    def _blocked(self, code: int, text: str) -> None:
        self.register.block(code, text)
        self.stats.blocked[self.register.identity.device_id] = f"{code} {_name(ResultCode, code)}: {text}"


_DOCUMENTS = (Command.TICKET, Command.MONEY_PLACEMENT, Command.CLOSE_SHIFT)
_GOODS = (ofd_pb2.TicketRequest.Item.ITEM_TYPE_COMMODITY,
          ofd_pb2.TicketRequest.Item.ITEM_TYPE_STORNO_COMMODITY)


def answer_line(register: OfdRegister, document: Document, response: ofd_pb2.Response) -> dict[str, Any]:
    """The ack log's line for an answer to a document: who sent it with which REQNUM (the OFD keeps the
    frame), the result, the shift it belongs to, and for a receipt its fiscal number and goods lines."""
    request = document.request
    shift = (request.ticket if document.command == Command.TICKET
             else request.money_placement if document.command == Command.MONEY_PLACEMENT
             else request.close_shift).fr_shift_number
    line: dict[str, Any] = {
        "protocol": "ofd", "device_id": register.identity.device_id, "ofd_id": register.identity.ofd_id,
        "command": _name(Command, document.command), "reqnum": document.reqnum,
        "result": _name(ResultCode, response.result.result_code), "shift": shift,
        "offline": document.offline,
    }
    if document.command == Command.TICKET:
        line["ticket_number"] = response.ticket.ticket_number
        line["lines"] = sum(1 for item in request.ticket.items if item.type in _GOODS)
    return line


def _name(kind: type[Command] | type[ResultCode], value: int) -> str:
    try:
        return kind(value).name
    except ValueError:
        return str(value)

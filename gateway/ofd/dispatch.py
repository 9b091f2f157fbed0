"""The OFD front door's handler: one register's request frame in, the whole answer frame out.

For each request: the register is found by the header's ID (unknown: 1; revoked: BLOCKED 15 if the
request shows one of its tokens, else 2 like any wrong token); the TOKEN and REQNUM rules of
gateway/ofd/exchange.py run (a resend gets its stored answer byte for byte; 2, 8, 9); a frame that does
not decode or lacks a required field gets PROTOCOL_ERROR (3). Then:

- a document (TICKET, MONEY_PLACEMENT, CLOSE_SHIFT, CANCEL_TICKET) becomes events of our contract
  (gateway/ofd/documents.py; a ShiftOpen first when it opens a shift), signed by the register's
  gateway-held key in the chain the gateway keeps for it and pushed through the same IngestPipeline as
  every other register's events; the answer carries a new TOKEN, and for a receipt the fiscal number (the
  event's numeric fiscal sign) and the consumer-check link;
- a service command (SYSTEM, INFO, REPORT, NOMENCLATURE, AUTH) is answered from the register's counters
  and registration, the TOKEN kept.

Either way the exchange is journalled before the answer leaves: with the document's event in one append,
or in a record of its own. Content is never refused: what is wrong with a well-formed document becomes a
finding (an anomaly). The only refusals for content are the two the protocol names: 17 (an online
receipt whose buyer is the seller) and 11 (an online document into a shift open over 24 h); offline
documents get findings instead, since a register blocks on any refusal of its backlog. A full journal is
254 (retry); anything unexpected 255, logged.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway import errors
from gateway.devices import Device, DeviceRegistry
from gateway.errors import GatewayError
from gateway.ingest.chain import ChainState
from gateway.ingest.fiscal_sign import FiscalSigner
from gateway.ingest.key_locks import KeyLocks
from gateway.ingest.pipeline import IngestPipeline, JournalAppender, wall_clock_ms
from gateway.ofd import answers, documents
from gateway.ofd.counters import Ledger
from gateway.ofd.documents import Mapping, finding
from gateway.ofd.exchange import RegisterExchanges, Remembered, Verdict
from gateway.ofd.framing import (
    Command,
    FrameError,
    FrameHeader,
    ResultCode,
    decode_request,
    encode_frame,
    peek_command,
)
from gateway.ofd.handler import answer_frame, result_answer
from gateway.ofd.keys import OfdKeys
from gateway.settings import Settings
from gateway.wire import ofd_pb2, pb, signing

log = logging.getLogger(__name__)

OFD_TOKEN = "ofd_token"  # JournalRecord.authentication of what the front door makes
DOCUMENTS = frozenset((Command.TICKET, Command.MONEY_PLACEMENT, Command.CLOSE_SHIFT, Command.CANCEL_TICKET))
SERVICES = frozenset((Command.SYSTEM, Command.INFO, Command.REPORT, Command.NOMENCLATURE, Command.AUTH))
_BODY = {Command.TICKET: "ticket", Command.MONEY_PLACEMENT: "money_placement",
         Command.CLOSE_SHIFT: "close_shift", Command.REPORT: "report", Command.AUTH: "auth"}
_REFUSALS = {
    Verdict.INVALID_TOKEN: (ResultCode.INVALID_TOKEN, "the TOKEN is not this register's current token"),
    Verdict.INVALID_REQUEST_NUMBER: (
        ResultCode.INVALID_REQUEST_NUMBER, "REQNUM is the last request's, with another TOKEN"),
    Verdict.INVALID_RETRY_REQUEST: (
        ResultCode.INVALID_RETRY_REQUEST, "TOKEN and REQNUM are the last request's, with another command"),
}
_COMMANDS = frozenset(ofd_pb2.CommandType.values())  # 2.0.2/2.0.3's (values() makes a list each call)
_NOMENCLATURE = ofd_pb2.NomenclatureResponse
_DEREGISTERED = "this register is deregistered"


@dataclass
class _Document:
    """A document on its way: its events (each with its findings), the answer's body, its counters."""

    ledger: Ledger
    events: list[tuple[pb.Event, list[pb.Finding]]] = field(default_factory=list)
    response: ofd_pb2.Response | None = None
    receipt_event: int | None = None  # which event is a receipt (its fiscal sign is the ticket number)


class OfdDispatcher:
    """The OfdHandler of a running gateway (gateway/ofd/handler.py); one per process."""

    def __init__(
        self,
        settings: Settings,
        registry: DeviceRegistry,
        chains: ChainState,
        pipeline: IngestPipeline,
        journal: JournalAppender,
        fiscal: FiscalSigner,
        keys: OfdKeys,
        exchanges: RegisterExchanges,
        clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._chains = chains
        self._pipeline = pipeline
        self._journal = journal
        self._fiscal = fiscal
        self._keys = keys
        self.exchanges = exchanges
        self._clock = clock
        self._locks = KeyLocks()
        self._offset = settings.ofd_utc_offset_min
        self._commits = _GroupIngest(pipeline)

    async def exchange(self, header: FrameHeader, payload: bytes) -> bytes:
        """The whole answer frame (header + Response) for one request frame; never raises for bad input."""
        try:
            return await self._exchange(header, payload)
        except GatewayError as exc:
            if exc.error.retryable:  # the journal is full or failing: nothing was accepted, retry
                return result_answer(header, ResultCode.SERVICE_TEMPORARILY_UNAVAILABLE, exc.detail,
                                     command=peek_command(payload))
            log.error("OFD exchange of id %d refused unexpectedly: %s", header.device_id, exc)
        except Exception:
            log.exception("OFD exchange of id %d reqnum %d failed", header.device_id, header.reqnum)
        return result_answer(header, ResultCode.UNKNOWN_ERROR, "internal error; it has been logged",
                             command=peek_command(payload))

    async def _exchange(self, header: FrameHeader, payload: bytes) -> bytes:
        command = peek_command(payload)
        device = self._registry.by_ofd_id(header.device_id)
        if device is None:
            return result_answer(header, ResultCode.UNKNOWN_ID, "no register with this ID", command=command)
        try:
            decoded = decode_request(payload)
        except FrameError as exc:
            return result_answer(header, ResultCode.PROTOCOL_ERROR, exc.detail, command=command)
        if decoded.command is None:
            return result_answer(header, ResultCode.PROTOCOL_ERROR, "no command", command=None)
        command = decoded.command
        async with self._locks.hold([device.device_id]):
            device = self._registry.get(device.device_id) or device  # the newest version, after waiting
            if not device.active:
                return self._deregistered(device, header, command)
            verdict, stored = self.exchanges.judge(device, header, command)
            if verdict is Verdict.RESEND:
                return stored
            if verdict is not Verdict.NEW:
                code, text = _REFUSALS[verdict]
                return result_answer(header, code, text, command=command)
            if command not in _COMMANDS:  # a later version's command
                text = f"no command {command} in 2.0.2/2.0.3"
                return result_answer(header, ResultCode.UNKNOWN_COMMAND, text, command=command)
            request = decoded.message
            body = _BODY.get(Command(command))
            if decoded.missing or (body is not None and not request.HasField(body)):
                missing = ", ".join(decoded.missing) or body
                return result_answer(header, ResultCode.PROTOCOL_ERROR, f"required field missing: {missing}",
                                     command=command)
            if command in DOCUMENTS:
                return await self._document(device, header, request, payload)
            if command in SERVICES:
                return await self._service(device, header, request)
            return result_answer(header, ResultCode.UNSUPPORTED_COMMAND, f"command {command} is not served",
                                 command=command)

    def _deregistered(self, device: Device, header: FrameHeader, command: int) -> bytes:
        """BLOCKED (15) to a revoked register that shows one of its tokens; anyone else gets the answer
        of any wrong token (2), so the port does not tell who was deregistered (docs/ofd.md)."""
        if self.exchanges.knows_token(device, header.token):
            return result_answer(header, ResultCode.BLOCKED, _DEREGISTERED, command=command)
        code, text = _REFUSALS[Verdict.INVALID_TOKEN]
        return result_answer(header, code, text, command=command)

    # ── service commands ──

    async def _service(self, device: Device, header: FrameHeader, request: ofd_pb2.Request) -> bytes:
        assert device.ofd is not None
        now = self._clock()
        exchange = self._exchange_of(device.ofd.ofd_id)
        state = exchange.state
        command = int(request.command)
        response = answers.ok(command)
        if command in (Command.INFO, Command.SYSTEM):
            response.service.CopyFrom(answers.service_response(device, state, request.service))
        if command == Command.INFO:
            kind = ofd_pb2.REPORT_X if state.shift_open else ofd_pb2.REPORT_Z
            response.report.CopyFrom(answers.report_response(kind, state, now, self._offset))
        elif command == Command.REPORT:
            # X: the open shift's counters; Z: the last closed shift's, or the open one's so far.
            response.report.CopyFrom(answers.report_response(request.report.report, state, now, self._offset))
        elif command == Command.NOMENCLATURE:
            # tracegate keeps no goods catalogue for registers (docs/ofd.md): the documented "no version".
            result = (_NOMENCLATURE.NOMENCLATURE_ELEMENT_NOT_FOUND_BY_BARCODE if request.nomenclature.barcode
                      else _NOMENCLATURE.NOMENCLATURE_NO_VERSION)
            response.nomenclature.CopyFrom(_NOMENCLATURE(version=0, result=result))
        elif command == Command.AUTH:
            # No cashier accounts here: the register's own login stands (the password is never kept).
            response.auth.CopyFrom(ofd_pb2.AuthResponse(result=ofd_pb2.AuthResponse.AUTH_INVALID_LOGIN_PASSWORD))
        answer = answer_frame(header, response)
        exchange.token, exchange.reqnum, exchange.command = header.token, header.reqnum, command
        exchange.answer, exchange.next_token = answer, header.token
        number = self.exchanges.next_number(device.ofd.ofd_id)
        record = pb.JournalRecord(
            envelope=pb.Envelope(device_id=device.device_id), received_ms=now, accepted=False,
            seller_tin=device.seller_tin, store_id=device.store_id, gateway_id=self._settings.gateway_id,
            authentication=OFD_TOKEN,
            ofd_exchange=self.exchanges.log(device.ofd.ofd_id, number, exchange, now),
        )
        await self._journal.append([record.SerializeToString()])
        self.exchanges.remember(device.ofd.ofd_id, Remembered(number, now, exchange))
        return answer

    def _exchange_of(self, ofd_id: int) -> pb.OfdExchange:
        """A new exchange of the register, holding a copy of its state to count into: the Ledger works on
        the exchange's own state, so the state is copied once, not once in and once more into the record."""
        exchange = pb.OfdExchange()
        previous = self.exchanges.state(ofd_id)
        if previous is None:
            exchange.state.SetInParent()
        else:
            exchange.state.CopyFrom(previous)
        return exchange

    # ── documents ──

    def _mapping(self) -> Mapping:
        def device_of_kgd(kgd_number: str) -> str | None:
            device = self._registry.by_kgd_number(kgd_number)
            return None if device is None else device.device_id

        return Mapping(self._settings.limits, self._offset, device_of_kgd)

    async def _document(
        self, device: Device, header: FrameHeader, request: ofd_pb2.Request, payload: bytes
    ) -> bytes:
        assert device.ofd is not None
        now = self._clock()
        exchange = self._exchange_of(device.ofd.ofd_id)
        ledger = Ledger(exchange.state)
        mapping = self._mapping()
        command = int(request.command)
        if command == Command.TICKET:
            document = self._ticket(device, request, ledger, mapping)
        elif command == Command.MONEY_PLACEMENT:
            document = self._money_placement(request, ledger, mapping)
        elif command == Command.CLOSE_SHIFT:
            document = self._close_shift(request, ledger, mapping, now)
        else:
            document = self._cancel(ledger, mapping, now)
        if isinstance(document, ResultCode):  # 17 or 11, as the protocol says (module docstring)
            texts = {ResultCode.SAME_TAXPAYER_AND_CUSTOMER: "the buyer's IIN/BIN is the seller's",
                     ResultCode.OPEN_SHIFT_TIMEOUT_EXPIRED: "the shift has been open over 24 h: close it"}
            return result_answer(header, document, texts[document], command=command)
        return await self._accept(device, header, request, payload, document, mapping, exchange, now)

    @staticmethod
    def _opening(claimed: int, time_ms: int, cashier: str, document: _Document, mapping: Mapping) -> int:
        """The shift the document goes into; a ShiftOpen event first when it opens one."""
        opening = document.ledger.shift_for(claimed, time_ms)
        if opening.opened:
            event = pb.Event(time_ms=time_ms, shift_open=pb.ShiftOpen(shift_number=opening.shift_number,
                                                                      cashier=cashier))
            document.events.append((event, opening.findings))
        else:
            mapping.findings.extend(opening.findings)
        return opening.shift_number

    def _ticket(self, device: Device, request: ofd_pb2.Request, ledger: Ledger, mapping: Mapping
                ) -> _Document | ResultCode:
        ticket = request.ticket
        receipt, time_ms = documents.receipt(request, mapping)
        if receipt.buyer.iin and receipt.buyer.iin == device.seller_tin:
            if not receipt.offline:
                return ResultCode.SAME_TAXPAYER_AND_CUSTOMER
            mapping.findings.append(finding("same_taxpayer_and_customer",
                                            "an offline receipt whose buyer IIN/BIN is the seller's"))
        if not receipt.offline and ledger.expired(ticket.fr_shift_number, time_ms):
            return ResultCode.OPEN_SHIFT_TIMEOUT_EXPIRED
        document = _Document(ledger)
        shift_number = self._opening(ticket.fr_shift_number, time_ms, receipt.cashier, document, mapping)
        receipt.shift_number = ticket.fr_shift_number or shift_number
        receipt.document_number = ledger.next_document(ticket.printed_document_number, receipt=True)
        receipt.shift_document_number = ticket.shift_document_number or ledger.shift.documents
        document.receipt_event = len(document.events)
        document.events.append((pb.Event(time_ms=time_ms, receipt=receipt), []))
        return document

    def _money_placement(self, request: ofd_pb2.Request, ledger: Ledger, mapping: Mapping
                         ) -> _Document | ResultCode:
        placement = request.money_placement
        movement, time_ms = documents.cash_movement(request, mapping)
        if not movement.offline and ledger.expired(placement.fr_shift_number, time_ms):
            return ResultCode.OPEN_SHIFT_TIMEOUT_EXPIRED
        document = _Document(ledger)
        shift_number = self._opening(placement.fr_shift_number, time_ms, movement.cashier, document, mapping)
        movement.shift_number = placement.fr_shift_number or shift_number
        ledger.next_document(placement.printed_document_number, receipt=False)
        mapping.findings.extend(ledger.count_cash(placement, movement.offline))
        document.events.append((pb.Event(time_ms=time_ms, cash_movement=movement), []))
        document.response = answers.ok(Command.MONEY_PLACEMENT)
        return document

    def _close_shift(self, request: ofd_pb2.Request, ledger: Ledger, mapping: Mapping, now: int) -> _Document:
        close = request.close_shift
        time_ms = mapping.time(close.close_time)
        z = close.z_report if close.HasField("z_report") else None
        claimed = close.fr_shift_number or (z.shift_number if z is not None else 0)
        cashier = documents.cashier(close.operator, mapping) if close.HasField("operator") else ""
        document = _Document(ledger)
        state = ledger.state
        if not state.shift_open and claimed and claimed == state.shift.shift_number:
            shift_number = claimed  # a shift closed before, closed again: compared with what it was
            mapping.findings.append(finding("shift_closed_twice", f"shift {claimed} was closed before"))
        else:
            shift_number = self._opening(claimed, time_ms, cashier, document, mapping)
        ledger.next_document(close.printed_document_number, receipt=False)
        if z is None:
            shift_close = ledger.as_shift_close()
            missing = "the register sent no Z report: the gateway's counters of the shift stand in"
            mapping.findings.append(finding("z_report_missing", missing))
        else:
            differences = ledger.z_differences(z)
            if differences:
                mapping.findings.append(finding("z_report_mismatch", "; ".join(differences)))
            shift_close = documents.shift_close_of_report(z, shift_number, mapping)
        shift_close.shift_number = shift_number
        shift_close.cashier = cashier
        shift_close.offline = close.is_offline
        shift_close.first_document_number = ledger.shift.first_document_number
        shift_close.last_document_number = ledger.shift.last_document_number
        shift_close.other_document_numbers.extend(ledger.other_documents_within())
        ledger.close(time_ms or now)
        document.events.append((pb.Event(time_ms=time_ms, shift_close=shift_close), []))
        response = answers.ok(Command.CLOSE_SHIFT)
        response.report.CopyFrom(answers.report_response(ofd_pb2.REPORT_Z, state, now, self._offset))
        document.response = response
        return document

    def _cancel(self, ledger: Ledger, mapping: Mapping, now: int) -> _Document:
        cancel = ledger.cancel_last()
        if cancel is None:
            cancel = pb.ReceiptCancel()
            mapping.findings.append(finding("cancel_without_receipt",
                                            "CANCEL_TICKET with no receipt of this shift left to annul"))
        document = _Document(ledger)
        document.events.append((pb.Event(time_ms=now, receipt_cancel=cancel), []))
        document.response = answers.ok(Command.CANCEL_TICKET)
        return document

    async def _accept(
        self, device: Device, header: FrameHeader, request: ofd_pb2.Request, payload: bytes,
        document: _Document, mapping: Mapping, exchange: pb.OfdExchange, now: int,
    ) -> bytes:
        """Sign the document's events into the register's chain, journal them with the exchange through
        the pipeline, then answer."""
        assert device.ofd is not None
        events = document.events
        key = self._keys.register_key(device.device_id, device.ofd.key_epoch)
        key_id = device.key_id  # the registered key is this key's public half (registration.py)
        head = self._chains.head(device.device_id)
        seq, prev_hash = head.next_seq, head.envelope_hash
        envelopes: list[pb.Envelope] = []
        hashes: list[bytes] = []
        for event, _ in events:
            data = documents.fit_event(event, mapping)
            preimage = signing.event_preimage(device.device_id, seq, prev_hash, data)
            envelopes.append(pb.Envelope(device_id=device.device_id, seq=seq, prev_hash=prev_hash, event=data,
                                         signature=signing.sign(key, preimage), key_id=key_id))
            prev_hash = signing.envelope_hash(preimage)
            hashes.append(prev_hash)
            seq += 1
        last = len(envelopes) - 1
        response = document.response or answers.ok(request.command)
        expected_signs: dict[int, str] = {}
        if document.receipt_event is not None:
            index = document.receipt_event
            receipt = events[index][0].receipt
            envelope = envelopes[index]
            ticket_number = self._fiscal.ticket_number(device.device_id, envelope.seq, hashes[index],
                                                       events[index][0].time_ms)
            expected_signs[index] = ticket_number
            url = answers.check_url(self._settings.consumer_check_url, ticket_number, device.ofd.kgd_number,
                                    receipt.total, events[index][0].time_ms, self._offset)
            response.ticket.CopyFrom(answers.ticket_response(ticket_number, url))
            document.ledger.count_receipt(receipt, request.ticket, ticket_number)
        next_token = _new_token(header.token)
        answer = answer_frame(header, response, token=next_token)
        exchange.token, exchange.reqnum, exchange.command = header.token, header.reqnum, request.command
        exchange.answer, exchange.next_token = answer, next_token  # its state: the ledger's, counted
        number = self.exchanges.next_number(device.ofd.ofd_id)
        evidence = encode_frame(payload, version=header.version, device_id=header.device_id, token=0,
                                reqnum=header.reqnum)  # the TOKEN is a credential: not kept
        attested = []
        for index, (_, findings) in enumerate(events):
            record = pb.JournalRecord(authentication=OFD_TOKEN, findings=findings)
            if index == last:
                record.findings.extend(mapping.findings)
                record.ofd_frame = evidence
                record.ofd_exchange.CopyFrom(self.exchanges.log(device.ofd.ofd_id, number, exchange, now))
            attested.append(record)
        acks = await self._commits.ingest(envelopes, attested)
        refused = [a for a in acks if a.status != pb.ACCEPTED]
        if refused:
            # Nothing of the register's own can make the gateway's envelopes fail but a revocation since.
            if any(a.error_code == errors.DEVICE_REVOKED.code for a in refused):
                return result_answer(header, ResultCode.BLOCKED, _DEREGISTERED, command=request.command)
            log.error("OFD register %s: the gateway's own envelopes were refused: %s", device.device_id,
                      "; ".join(f"{a.error_code} {a.detail}" for a in refused))
            return result_answer(header, ResultCode.UNKNOWN_ERROR, "internal error; it has been logged",
                                 command=request.command)
        for index, sign in expected_signs.items():
            if acks[index].fiscal_sign != sign:  # the same function on both sides: a bug if ever
                log.error("OFD register %s: printed fiscal number %s, stored %s", device.device_id, sign,
                          acks[index].fiscal_sign)
        self.exchanges.remember(device.ofd.ofd_id, Remembered(number, now, exchange))
        return answer


# One register's part of a group ingest: its envelopes, their attested records, and its acks to come.
_Part = tuple[list[pb.Envelope], list[pb.JournalRecord], "asyncio.Future[list[pb.EventAck]]"]


class _GroupIngest:
    """Documents of several registers, ready in the same turn of the event loop, go through the pipeline
    as one batch: one decision pass, one journal append, one group commit (asyncio's turns hold ~17 at
    saturation; uvloop's short ones held one: docs/performance.md, round 12). Each register's exchange still
    waits for that commit (its answer leaves only once the journal holds it); if the batch fails (a full
    journal), every exchange in it fails, and none of them was accepted."""

    def __init__(self, pipeline: IngestPipeline) -> None:
        self._pipeline = pipeline
        self._waiting: list[_Part] = []

    async def ingest(self, envelopes: list[pb.Envelope], attested: list[pb.JournalRecord]
                     ) -> list[pb.EventAck]:
        """The acks of these envelopes, once they are journalled with the rest of their batch."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[pb.EventAck]] = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._flush)  # after every exchange already runnable in this turn
        self._waiting.append((envelopes, attested, future))
        return await future

    def _flush(self) -> None:
        waiting, self._waiting = self._waiting, []
        task = asyncio.get_running_loop().create_task(self._ingest(waiting))
        _FLUSHES.add(task)
        task.add_done_callback(_FLUSHES.discard)

    async def _ingest(self, waiting: list[_Part]) -> None:
        envelopes = [envelope for part, _, _ in waiting for envelope in part]
        attested = [record for _, part, _ in waiting for record in part]
        try:
            ack = await self._pipeline.ingest(pb.IngestBatch(envelopes=envelopes), attested)
        except BaseException as exc:
            for _, _, future in waiting:
                if future.done():
                    continue
                if isinstance(exc, Exception):
                    future.set_exception(exc)
                else:  # cancelled (the gateway stops): so are the exchanges waiting for it
                    future.cancel()
            if not isinstance(exc, Exception):
                raise
            return
        acks = ack.acks[:]
        start = 0
        for part, _, future in waiting:
            if not future.done():
                future.set_result(acks[start:start + len(part)])
            start += len(part)


_FLUSHES: set[asyncio.Task[None]] = set()  # group ingests in flight (a task nobody holds may be collected)


def _new_token(old: int) -> int:
    """A fresh TOKEN for the register's next request: never 0, never the one it just used."""
    while True:
        token = secrets.randbelow(0xFFFF_FFFF) + 1
        if token != old:
            return token

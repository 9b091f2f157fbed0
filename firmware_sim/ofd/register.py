"""One simulated register speaking OFD 2.0.3 (or 2.0.2): its token and REQNUM, its documents, its own
counters, and the queue of what the OFD has not yet answered.

Like a real one: a new request takes REQNUM+1 with the last TOKEN; a request is resent with the TOKEN
and REQNUM it was first sent with (the OFD then answers what it answered before); each answer's TOKEN is
the one to use next. Offline it numbers receipts itself, queues everything in order, and while the queue
is not empty new documents join its end; shifts open with their first document and close with a Z report
the register computed itself. Nothing here does I/O: firmware_sim/ofd/link.py carries the frames.
"""

from __future__ import annotations

import base64
import json
import os
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from firmware_sim.catalog import Goods, default_catalog, marking_code
from firmware_sim.device import CASHIERS
from firmware_sim.ofd.counters import OfdCounters
from firmware_sim.ofd.tickets import (
    Basket,
    Style,
    build_ticket,
    money,
    ofd_datetime,
    random_basket_extras,
    return_ticket,
)
from firmware_sim.receipts import random_basket
from gateway.ofd.framing import FrameHeader, encode_frame, next_reqnum
from gateway.wire import ofd_pb2

RECENT_SALES = 30  # sales a register keeps at hand for returns


@dataclass(frozen=True)
class OfdIdentity:
    """Who a register is to the OFD and to tracegate."""

    device_id: str  # tracegate's id of the register (devices add --id)
    ofd_id: int  # the ID in every frame header, issued at registration
    first_token: int  # the TOKEN it was configured with
    kgd_number: str  # the tax authority's registration number (12 digits)
    serial_number: str
    seller_tin: str
    store_id: str
    latitude_e6: int = 43_238_949
    longitude_e6: int = 76_889_709
    version: int = 203

    def registration(self) -> dict[str, Any]:
        """What `tracegate devices add --protocol ofd` registers."""
        return {"device_id": self.device_id, "protocol": "ofd", "ofd_id": self.ofd_id,
                "ofd_token": self.first_token, "kgd_number": self.kgd_number, "seller_tin": self.seller_tin,
                "store_id": self.store_id}


@dataclass
class Document:
    """A request the OFD must answer OK before the next one goes (a receipt, a placement, a Z report)."""

    command: int
    request: ofd_pb2.Request  # without service.offline_period, which each send sets afresh
    made_ms: int
    offline: bool  # made while offline: numbered and flagged by the register itself
    token: int | None = None  # fixed by its first send, with the REQNUM: a resend is the same exchange
    reqnum: int | None = None
    sale: dict[str, Any] | None = None  # a sale's entry in recent_sales, to note its ticket number

    @property
    def sent(self) -> bool:
        """True once it went out (and may have been received): from now on only resent."""
        return self.reqnum is not None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (the queue is persisted)."""
        request = base64.b64encode(self.request.SerializeToString()).decode()
        return {"command": self.command, "request": request, "made_ms": self.made_ms, "offline": self.offline,
                "token": self.token, "reqnum": self.reqnum, "sale": self.sale["key"] if self.sale else None}


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class OfdRegister:
    """A cash register as its firmware keeps it."""

    def __init__(self, identity: OfdIdentity, *, rng: random.Random, style: Style | None = None,
                 clock: Callable[[], int] = _wall_clock_ms, catalog: list[Goods] | None = None,
                 state_dir: Path | None = None) -> None:
        self.identity = identity
        self.rng = rng
        self.style = style or Style(version=identity.version)
        self.clock = clock
        self.catalog = catalog or default_catalog()
        self.code_source: Callable[[Goods, random.Random], str] = marking_code
        self.state_file = state_dir / identity.device_id / "ofd-state.json" if state_dir else None
        self.token = identity.first_token
        self.reqnum = 0  # the last REQNUM used; the first request takes 1
        self.counters = OfdCounters()
        self.pending: deque[Document] = deque()
        self.offline_since_ms = 0  # 0: online
        self.last_offline_number = 0
        self.document_number = 0  # every document, never reset (2.0.2's printed_document_number)
        self.shift_tickets = 0
        self.cashier = (1, CASHIERS[0])
        self.recent_sales: list[dict[str, Any]] = []
        self.blocked: tuple[int, str] | None = None  # (result code, text): a human must step in

    # ── what goes into every request ──

    def now_ms(self) -> int:
        """The register's clock."""
        return self.clock()

    def service(self) -> ofd_pb2.ServiceRequest:
        """The service block: where the register stands and who it is (sent with every fiscal request)."""
        service = ofd_pb2.ServiceRequest()
        geo = service.security_stats.geo_position
        geo.latitude, geo.longitude = self.identity.latitude_e6, self.identity.longitude_e6
        if self.style.version >= 203:
            geo.source = "GPS"
        kkm = service.reg_info.kkm
        kkm.fns_kkm_id, kkm.serial_number = self.identity.kgd_number, self.identity.serial_number
        kkm.kkm_id = str(self.identity.ofd_id)
        return service

    def operator(self) -> ofd_pb2.Operator:
        """The cashier on duty."""
        return ofd_pb2.Operator(code=self.cashier[0], name=self.cashier[1])

    @property
    def offline(self) -> bool:
        """True while the register has no line to the OFD (or is working off what it queued meanwhile)."""
        return bool(self.offline_since_ms)

    def _document(self, command: int, body: str, message: Any, now_ms: int, offline: bool) -> Document:
        request = ofd_pb2.Request(command=command, service=self.service())  # type: ignore[arg-type]
        getattr(request, body).CopyFrom(message)
        self.document_number += 1
        document = Document(command, request, now_ms, offline)
        self.pending.append(document)
        self.save()
        return document

    def _start(self) -> tuple[int, bool]:
        """The time of a new document and whether it is made offline (queue not empty counts as offline:
        documents go strictly in order); the shift opens if it is closed."""
        if self.blocked:
            raise RuntimeError(f"the register is blocked (result {self.blocked[0]}): a human must step in")
        now = max(self.now_ms(), self.counters.open_time_ms)
        if not self.counters.shift_open:
            self.counters.open_if_closed(now)
            self.shift_tickets = 0
            index = self.rng.randrange(len(CASHIERS))
            self.cashier = (index + 1, CASHIERS[index])
        return now, self.offline or bool(self.pending)

    # ── documents ──

    def sell(self, *, buyer: bool = False) -> Document:
        """Ring up a sale of a random basket (now and then with a cancelled line, a markup or a discount)."""
        now, offline = self._start()
        basket = random_basket_extras(Basket(random_basket(self.catalog, self.rng, self.code_source)),
                                      self.catalog, self.rng)
        ticket = build_ticket(ofd_pb2.OPERATION_SELL, basket, self.style, self.rng)
        if buyer:
            ticket.extension_options.customer_email = f"buyer{self.rng.randrange(10**6):06d}@example.kz"
            ticket.extension_options.customer_phone = f"+7701{self.rng.randrange(10**7):07d}"
        return self._ticket(ticket, now, offline)

    def can_return(self) -> bool:
        """True if an earlier sale with a fiscal number can be returned."""
        return any(sale["ticket_number"] for sale in self.recent_sales)

    def sell_return(self) -> Document:
        """Return some lines of an earlier sale (with its fiscal number), refunded the way it was paid."""
        sales = [sale for sale in self.recent_sales if sale["ticket_number"]]
        if not sales:
            raise RuntimeError("no earlier sale with a fiscal number to return")
        now, offline = self._start()
        sale = self.rng.choice(sales)
        self.recent_sales.remove(sale)  # one return per sale keeps returns within what was sold
        parent = ofd_pb2.TicketRequest.FromString(base64.b64decode(sale["ticket"]))
        goods_lines = sum(1 for i in parent.items if i.type == ofd_pb2.TicketRequest.Item.ITEM_TYPE_COMMODITY)
        ticket = return_ticket(parent, self.rng.randint(1, max(1, goods_lines)), self.style)
        if self.style.version >= 203:
            ticket.parent_ticket.CopyFrom(ofd_pb2.TicketRequest.ParentTicket(
                parent_ticket_number=sale["ticket_number"], parent_ticket_data_time=parent.date_time,
                kgd_kkm_id=self.identity.kgd_number, parent_ticket_total=parent.amounts.total,
                parent_ticket_is_offline=sale["offline"],
            ))
        return self._ticket(ticket, now, offline)

    def _ticket(self, ticket: ofd_pb2.TicketRequest, now: int, offline: bool) -> Document:
        ticket.date_time.CopyFrom(ofd_datetime(now))
        ticket.operator.CopyFrom(self.operator())
        ticket.fr_shift_number = self.counters.shift_number
        self.shift_tickets += 1
        ticket.shift_document_number = self.shift_tickets
        if self.style.version < 203:
            ticket.printed_document_number = self.document_number + 1
        if offline:
            # Offline receipts carry the register's own number: unique, here the low 32 bits of Unix time.
            self.last_offline_number = max(self.last_offline_number + 1, (now // 1000) & 0xFFFF_FFFF)
            ticket.offline_ticket_number = self.last_offline_number
        self.counters.add_ticket(ticket, offline)
        document = self._document(ofd_pb2.COMMAND_TICKET, "ticket", ticket, now, offline)
        if ticket.operation == ofd_pb2.OPERATION_SELL:
            document.sale = {"ticket": base64.b64encode(ticket.SerializeToString()).decode(),
                             "ticket_number": "", "offline": offline,
                             "key": self.document_number}
            self.recent_sales.append(document.sale)
            del self.recent_sales[:-RECENT_SALES]
        return document

    def money_placement(self, operation: int, amount: int) -> Document:
        """A cash deposit or withdrawal (never more than the drawer holds)."""
        now, offline = self._start()
        if operation == ofd_pb2.MONEY_PLACEMENT_WITHDRAWAL and amount > self.counters.cash:
            raise ValueError("cannot withdraw more cash than the drawer holds")
        placement = ofd_pb2.MoneyPlacementRequest(
            datetime=ofd_datetime(now), operation=operation, sum=money(amount),  # type: ignore[arg-type]
            is_offline=offline, fr_shift_number=self.counters.shift_number, operator=self.operator(),
        )
        if self.style.version < 203:
            placement.printed_document_number = self.document_number + 1
        self.counters.add_placement(operation, amount, offline)
        return self._document(ofd_pb2.COMMAND_MONEY_PLACEMENT, "money_placement", placement, now, offline)

    def close_shift(self) -> Document:
        """Close the open shift with the Z report computed from the register's own counters."""
        if not self.counters.shift_open:
            raise RuntimeError("no shift is open")
        now, offline = self._start()
        close = ofd_pb2.CloseShiftRequest(
            close_time=ofd_datetime(now), is_offline=offline, fr_shift_number=self.counters.shift_number,
            withdraw_money=False, z_report=self.counters.close(now), operator=self.operator(),
        )
        if self.style.version < 203:
            close.printed_document_number = self.document_number + 1
        return self._document(ofd_pb2.COMMAND_CLOSE_SHIFT, "close_shift", close, now, offline)

    def x_report(self) -> ofd_pb2.Request:
        """An X report of the open shift (not queued: it is printed offline and sent only online)."""
        now = self.now_ms()
        report = ofd_pb2.ReportRequest(report=ofd_pb2.REPORT_X, date_time=ofd_datetime(now),
                                       zx_report=self.counters.report(now))
        return ofd_pb2.Request(command=ofd_pb2.COMMAND_REPORT, report=report, service=self.service())

    def info(self) -> ofd_pb2.Request:
        """The start-up INFO request: counters, registration data, taxation, last document."""
        service = self.service()
        service.get_reg_info = True
        return ofd_pb2.Request(command=ofd_pb2.COMMAND_INFO, service=service)

    def system(self) -> ofd_pb2.Request:
        """SYSTEM: back from an offline period, say how long it lasted before the queue goes."""
        request = ofd_pb2.Request(command=ofd_pb2.COMMAND_SYSTEM, service=self.service())
        self._offline_period(request)
        return request

    # ── frames ──

    def frame(self, request: ofd_pb2.Request, document: Document | None = None) -> bytes:
        """The frame of a request: a new one takes REQNUM+1 and the current TOKEN; a document sent before
        keeps the TOKEN and REQNUM of its first send (and, offline, tells the offline period so far)."""
        if document is not None and document.sent:
            assert document.token is not None and document.reqnum is not None
            token, reqnum = document.token, document.reqnum
        else:
            self.reqnum = next_reqnum(self.reqnum)
            token, reqnum = self.token, self.reqnum
            if document is not None:
                document.token, document.reqnum = token, reqnum
            self.save()  # a REQNUM once used is never used again for something else, restart or not
        if document is not None and self.offline:
            request = ofd_pb2.Request.FromString(request.SerializeToString())
            self._offline_period(request)
        return encode_frame(request.SerializeToString(), version=self.style.version,
                            device_id=self.identity.ofd_id, token=token, reqnum=reqnum)

    def _offline_period(self, request: ofd_pb2.Request) -> None:
        if self.offline:
            period = request.service.offline_period
            period.begin_time.CopyFrom(ofd_datetime(self.offline_since_ms))
            period.end_time.CopyFrom(ofd_datetime(max(self.now_ms(), self.offline_since_ms)))

    # ── answers ──

    def answered(self, header: FrameHeader, response: ofd_pb2.Response, document: Document | None) -> None:
        """An OK answer: the next request uses its TOKEN; a document leaves the queue (a sale keeps its
        fiscal number for returns); an empty queue ends an offline period."""
        self.token = header.token
        if document is None:
            return
        if not self.pending or self.pending[0] is not document:
            raise RuntimeError("an answer to a document that is not the head of the queue")
        self.pending.popleft()
        if document.sale is not None:
            document.sale["ticket_number"] = response.ticket.ticket_number
        if not self.pending:
            self.offline_since_ms = 0
        self.save()

    def go_offline(self) -> None:
        """No line, no answer in time, or a transient error: from now on documents are made offline."""
        if not self.offline_since_ms:
            self.offline_since_ms = self.now_ms()

    def block(self, code: int, text: str) -> None:
        """An answer that stops the register until a human steps in (any refusal of a queued document)."""
        self.blocked = (code, text)
        self.save()

    # ── persistence ──

    def save(self) -> None:
        """Write the state (token, REQNUM, counters, queue …) when the register has a state directory."""
        if self.state_file is None:
            return
        state = {
            "identity": asdict(self.identity), "token": self.token, "reqnum": self.reqnum,
            "counters": self.counters.to_json(), "pending": [d.to_json() for d in self.pending],
            "offline_since_ms": self.offline_since_ms, "last_offline_number": self.last_offline_number,
            "document_number": self.document_number, "shift_tickets": self.shift_tickets,
            "cashier": list(self.cashier), "recent_sales": self.recent_sales, "blocked": self.blocked,
        }
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.state_file)

    def load(self) -> bool:
        """Read the saved state, if there is one; True if there was."""
        if self.state_file is None or not self.state_file.exists():
            return False
        state = json.loads(self.state_file.read_text())
        self.token, self.reqnum = state["token"], state["reqnum"]
        self.counters = OfdCounters.from_json(state["counters"])
        self.offline_since_ms = state["offline_since_ms"]
        self.last_offline_number = state["last_offline_number"]
        self.document_number, self.shift_tickets = state["document_number"], state["shift_tickets"]
        self.cashier = (state["cashier"][0], state["cashier"][1])
        self.recent_sales = state["recent_sales"]
        self.blocked = (state["blocked"][0], state["blocked"][1]) if state["blocked"] else None
        sales = {sale["key"]: sale for sale in self.recent_sales}
        for saved in state["pending"]:
            request = ofd_pb2.Request.FromString(base64.b64decode(saved["request"]))
            self.pending.append(Document(saved["command"], request, saved["made_ms"], saved["offline"],
                                         saved["token"], saved["reqnum"], sales.get(saved["sale"])))
        return True


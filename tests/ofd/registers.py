"""A test register speaking OFD 2.0.3 to the handler: real frames, made and read with the codec."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.ofd.framing import FrameHeader, decode_response, encode_frame, next_reqnum, split_frame
from gateway.ofd.handler import OfdHandler
from gateway.ofd.units import local_datetime
from gateway.wire import ofd_pb2

T = ofd_pb2.TicketRequest
Z = ofd_pb2.ZXReport
OFFSET_MIN = 300


def money(tiyn: int) -> ofd_pb2.Money:
    """tiyn as OFD Money."""
    return ofd_pb2.Money(bills=tiyn // 100, coins=tiyn % 100)


def when(ms: int) -> ofd_pb2.DateTime:
    """ms UTC as the register's local (UTC+5) DateTime."""
    return local_datetime(ms, OFFSET_MIN)


def vat(amount: int) -> T.Tax:
    """12 % VAT included in amount, as registers send it."""
    return T.Tax(tax_type=100, taxation_type=101, percent=12000, sum=money(amount * 12 // 112),
                 is_in_total_sum=True)


def commodity(name: str, price: int, quantity: int = 1000, codes: tuple[str, ...] = (),
              barcode: str = "", section: str = "1") -> T.Item:
    """A COMMODITY item of quantity/1000 units at price (tiyn), VAT 12 %."""
    total = price * quantity // 1000
    return T.Item(type=T.Item.ITEM_TYPE_COMMODITY, commodity=T.Commodity(
        name=name, section_code=section, quantity=quantity, price=money(price), sum=money(total),
        taxes=[vat(total)], measure_unit_code="796", list_excise_stamp=list(codes), barcode=barcode,
    ))


def ticket(time_ms: int, items: list[T.Item], *, operation: int = ofd_pb2.OPERATION_SELL,
           cash: int | None = None, card: int = 0, change: int = 0, shift: int = 0,
           offline_number: int = 0, **extra: Any) -> T:
    """A TicketRequest of items paid in cash (total plus change handed over) and/or by card."""
    total = sum(item.commodity.sum.bills * 100 + item.commodity.sum.coins for item in items
                if item.type == T.Item.ITEM_TYPE_COMMODITY)
    total -= sum(item.storno_commodity.sum.bills * 100 + item.storno_commodity.sum.coins for item in items
                 if item.type == T.Item.ITEM_TYPE_STORNO_COMMODITY)
    for item in items:
        for kind, sign in (("discount", -1), ("markup", 1)):
            if item.type == getattr(T.Item, f"ITEM_TYPE_{kind.upper()}"):
                modifier = getattr(item, kind)
                total += sign * (modifier.sum.bills * 100 + modifier.sum.coins)
    if "amounts_discount" in extra:
        total -= extra.pop("amounts_discount")
    cash = total - card if cash is None else cash
    payments = []
    if cash:
        payments.append(T.Payment(type=ofd_pb2.PAYMENT_CASH, sum=money(cash)))
    if card:
        fields = T.Payment.CardPaymentFields(pos_terminal_id="T-77", pos_rrn=123456789012,
                                             pos_autorization_code=4711)
        payments.append(T.Payment(type=ofd_pb2.PAYMENT_CARD, sum=money(card), card_payment_fields=fields))
    amounts = T.Amounts(total=money(total), taken=money(cash + change), change=money(change))
    request = T(operation=operation, date_time=when(time_ms), items=items, payments=payments, amounts=amounts,
                operator=ofd_pb2.Operator(code=7, name="Aigerim"), **extra)
    if shift:
        request.fr_shift_number = shift
    if offline_number:
        request.offline_ticket_number = offline_number
    return request


def z_report(time_ms: int, shift: int, sells: tuple[int, int], returns: tuple[int, int], cash: int,
             deposits: int) -> ofd_pb2.ZXReport:
    """The register's own Z: receipts and sums per operation, cash in the drawer, deposits."""
    return Z(
        date_time=when(time_ms), shift_number=shift, cash_sum=money(cash),
        revenue=Z.Revenue(sum=money(sells[1] - returns[1]), is_negative=False),
        ticket_operations=[
            Z.TicketOperation(operation=ofd_pb2.OPERATION_SELL, tickets_total_count=sells[0],
                              tickets_count=sells[0], tickets_sum=money(sells[1])),
            Z.TicketOperation(operation=ofd_pb2.OPERATION_SELL_RETURN, tickets_total_count=returns[0],
                              tickets_count=returns[0], tickets_sum=money(returns[1])),
        ],
        money_placements=[Z.MoneyPlacement(operation=ofd_pb2.MONEY_PLACEMENT_DEPOSIT, operations_count=1,
                                           operations_total_count=1, operations_sum=money(deposits))],
    )


@dataclass
class Register:
    """A register with its OFD id, current token and REQNUM; sends through a handler, keeps what it sent."""

    handler: OfdHandler
    ofd_id: int = 200001
    token: int = 3_000_000_001
    reqnum: int = 0
    version: int = 203
    sent: list[bytes] = field(default_factory=list)

    def frame(self, request: ofd_pb2.Request, *, new: bool = True, token: int | None = None) -> bytes:
        """The request's frame with the next REQNUM (new) or the last one again."""
        if new:
            self.reqnum = next_reqnum(self.reqnum)
        # Partial: a test may send a request without a required field, as a broken register would.
        return encode_frame(request.SerializePartialToString(), version=self.version, device_id=self.ofd_id,
                            token=self.token if token is None else token, reqnum=self.reqnum)

    async def send_frame(self, data: bytes) -> tuple[FrameHeader, ofd_pb2.Response, bytes]:
        """Hand one frame to the handler: the answer's header, Response and bytes; a new TOKEN is kept."""
        header, payload = split_frame(data)
        self.sent.append(data)
        answer = await self.handler.exchange(header, payload)
        answer_header, answer_payload = split_frame(answer)
        response = decode_response(answer_payload).message
        assert (answer_header.device_id, answer_header.reqnum) == (header.device_id, header.reqnum)
        if response.result.result_code == 0:
            self.token = answer_header.token
        return answer_header, response, answer

    async def send(self, request: ofd_pb2.Request, **how: Any) -> ofd_pb2.Response:
        """Send a request as a new exchange (or as `how` says); the Response."""
        return (await self.send_frame(self.frame(request, **how)))[1]

    async def ticket(self, request: T, **service: Any) -> ofd_pb2.Response:
        """TICKET."""
        message = ofd_pb2.Request(command=ofd_pb2.COMMAND_TICKET, ticket=request)
        if service:
            message.service.CopyFrom(ofd_pb2.ServiceRequest(**service))
        return await self.send(message)

    async def info(self) -> ofd_pb2.Response:
        """INFO with reg info and bound taxation asked."""
        return await self.send(ofd_pb2.Request(command=ofd_pb2.COMMAND_INFO, service=ofd_pb2.ServiceRequest(
            get_reg_info=True, get_binded_taxation=True)))

    async def money(self, time_ms: int, amount: int, *, deposit: bool = True, **extra: Any
                    ) -> ofd_pb2.Response:
        """MONEY_PLACEMENT."""
        kind = ofd_pb2.MONEY_PLACEMENT_DEPOSIT if deposit else ofd_pb2.MONEY_PLACEMENT_WITHDRAWAL
        placement = ofd_pb2.MoneyPlacementRequest(datetime=when(time_ms), sum=money(amount), operation=kind,
                                                  operator=ofd_pb2.Operator(code=7), **extra)
        request = ofd_pb2.Request(command=ofd_pb2.COMMAND_MONEY_PLACEMENT, money_placement=placement)
        return await self.send(request)

    async def report(self, time_ms: int, kind: int = ofd_pb2.REPORT_X) -> ofd_pb2.Response:
        """REPORT."""
        return await self.send(ofd_pb2.Request(command=ofd_pb2.COMMAND_REPORT, report=ofd_pb2.ReportRequest(
            report=kind, date_time=when(time_ms))))

    async def close_shift(self, time_ms: int, z: ofd_pb2.ZXReport | None, **extra: Any) -> ofd_pb2.Response:
        """CLOSE_SHIFT with the register's own Z report."""
        close = ofd_pb2.CloseShiftRequest(close_time=when(time_ms), operator=ofd_pb2.Operator(code=7),
                                          **extra)
        if z is not None:
            close.z_report.CopyFrom(z)
        return await self.send(ofd_pb2.Request(command=ofd_pb2.COMMAND_CLOSE_SHIFT, close_shift=close))

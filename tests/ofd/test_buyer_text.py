"""A buyer's data in the free text of an OFD frame (the printed receipt, free key-value pairs, an account or
card number) is kept as buyer data is, although the typed buyer fields are empty: the evidence frame is not
kept (no consent travels in the protocol), neither in the journal nor in any row, and the register is
answered as for any receipt."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from gateway.ofd.framing import HEADER_SIZE, encode_frame
from gateway.security.ofd_buyer_text import FRAME_HEADER_BYTES, buyer_text_in, buyer_text_in_frame
from gateway.wire import ofd_pb2
from tests.ofd.registers import T, commodity, money, ticket

EMAIL, PHONE, IIN = "aliya.marker@buyer.test", "+77015550199", "990101355501"
MARKERS = (EMAIL, PHONE, IIN)
KV = ofd_pb2.KeyValuePair
Service = ofd_pb2.ServiceRequest


def now_ms() -> int:
    return time.time_ns() // 1_000_000 // 1000 * 1000  # whole seconds: OFD times have no milliseconds


def _printed(request: ofd_pb2.Request) -> None:
    request.ticket.printed_ticket = f"SALE\nTea 100.00\nbuyer {EMAIL} {PHONE}\nIIN {IIN}\n"


def _extension_auxiliary(request: ofd_pb2.Request) -> None:
    request.ticket.extension_options.auxiliary.add(key="phone", value=PHONE)


def _item_auxiliary(request: ofd_pb2.Request) -> None:
    request.ticket.items[0].commodity.auxiliary.add(key="recipient", value=f"{EMAIL} {PHONE} {IIN}")


def _modifier_auxiliary(request: ofd_pb2.Request) -> None:
    discount = T.Modifier(name="Loyalty", sum=money(0), auxiliary=[KV(key="card owner", value=PHONE)])
    request.ticket.amounts.discount.CopyFrom(discount)


def _service_auxiliary(request: ofd_pb2.Request) -> None:
    request.service.auxiliary.add(key="buyer", value=EMAIL)


def _account_number(request: ofd_pb2.Request) -> None:
    request.ticket.domain.services.account_number = IIN


def _fuel_card(request: ofd_pb2.Request) -> None:
    request.ticket.domain.gasoil.card_number = PHONE


FREE_TEXT: dict[str, Callable[[ofd_pb2.Request], None]] = {
    "printed_ticket": _printed, "extension_options": _extension_auxiliary,
    "item 1 auxiliary": _item_auxiliary,
    "receipt modifier auxiliary": _modifier_auxiliary, "service auxiliary": _service_auxiliary,
    "domain account number": _account_number, "domain card number": _fuel_card,
}


def _request(time_ms: int, part: str | None = None) -> ofd_pb2.Request:
    sale = ticket(time_ms, [commodity("Tea", 10_000)])
    request = ofd_pb2.Request(command=ofd_pb2.COMMAND_TICKET, ticket=sale)
    if part is not None:
        FREE_TEXT[part](request)
    return request


@pytest.mark.parametrize("part", sorted(FREE_TEXT))
def test_each_free_text_part_is_named(part: str) -> None:
    request = _request(now_ms(), part)
    assert buyer_text_in(request) == part
    frame = encode_frame(request.SerializeToString(), version=203, device_id=1, token=0, reqnum=1)
    assert buyer_text_in_frame(frame) == part


def test_the_sellers_words_and_a_plain_receipt_are_no_buyer_text() -> None:
    request = _request(now_ms())
    request.ticket.operator.name = "Aigerim"  # the cashier: mapped into our receipt, kept as ours are
    request.ticket.domain.taxi.car_number = "777ABC02"  # the taxi's plate
    request.ticket.domain.type = ofd_pb2.DOMAIN_TAXI
    request.service.security_stats.os_version = "Android 13"
    assert buyer_text_in(request) == ""
    placement = ofd_pb2.Request(command=ofd_pb2.COMMAND_MONEY_PLACEMENT)
    assert buyer_text_in(placement) == ""


def test_presence_counts_not_the_last_value() -> None:
    # printed_ticket = <the buyer's text>, then printed_ticket = "": the parse keeps "", the frame both.
    payload = _request(now_ms(), "printed_ticket").SerializeToString() + b"\x12\x02\x62\x00"
    assert ofd_pb2.Request.FromString(payload).ticket.printed_ticket == ""
    frame = encode_frame(payload, version=203, device_id=1, token=0, reqnum=1)
    assert EMAIL.encode() in frame and buyer_text_in_frame(frame) == "printed_ticket"
    assert buyer_text_in_frame(frame[:18] + b"\xff\xff") != "", "bytes that do not parse may hold anything"
    assert FRAME_HEADER_BYTES == HEADER_SIZE


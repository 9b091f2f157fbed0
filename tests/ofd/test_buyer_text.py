"""A buyer's data in the free text of an OFD frame (the printed receipt, free key-value pairs, an account or
card number) is kept as buyer data is, although the typed buyer fields are empty: the evidence frame is not
kept (no consent travels in the protocol), neither in the journal nor in any row, and the register is
answered as for any receipt."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.auth.tokens import ADMIN
from gateway.ofd.framing import HEADER_SIZE, encode_frame, encode_varint
from gateway.query.receipts import Receipts
from gateway.security.ofd_buyer_text import (
    BUYERS_OWN,
    FRAME_HEADER_BYTES,
    UNKNOWN_FIELDS,
    buyer_text_in,
    buyer_text_in_frame,
)
from gateway.service import GatewayService
from gateway.settings import Settings
from gateway.wire import ofd_pb2
from tests.ofd.registers import Register, T, commodity, money, ticket, when
from tests.ofd.stored import rows, shipped
from tests.ofd_wire.published import frame as published_frame

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


def _unknown_field(number: int, text: str) -> bytes:
    """A length-delimited field of that number holding text, as a newer protocol version may send one."""
    data = text.encode()
    return encode_varint(number << 3 | 2) + encode_varint(len(data)) + data


# Fields this schema does not know (a future version's buyer field?): merged in, kept by the parse.
def _ticket_unknown(request: ofd_pb2.Request) -> None:
    request.ticket.MergeFromString(_unknown_field(111, EMAIL))


def _item_unknown(request: ofd_pb2.Request) -> None:
    request.ticket.items[0].commodity.MergeFromString(_unknown_field(50, PHONE))


def _request_unknown(request: ofd_pb2.Request) -> None:
    request.MergeFromString(_unknown_field(100, f"{EMAIL} {IIN}"))


UNKNOWN: dict[str, Callable[[ofd_pb2.Request], None]] = {
    "ticket field 111": _ticket_unknown, "item body field 50": _item_unknown,
    "request field 100": _request_unknown,
}


def _request(time_ms: int, part: str | None = None) -> ofd_pb2.Request:
    sale = ticket(time_ms, [commodity("Tea", 10_000)])
    request = ofd_pb2.Request(command=ofd_pb2.COMMAND_TICKET, ticket=sale)
    if part is not None:
        {**FREE_TEXT, **UNKNOWN}[part](request)
    return request


@pytest.mark.parametrize("part", sorted(FREE_TEXT))
def test_each_free_text_part_is_named(part: str) -> None:
    request = _request(now_ms(), part)
    assert buyer_text_in(request) == part
    frame = encode_frame(request.SerializeToString(), version=203, device_id=1, token=0, reqnum=1)
    assert buyer_text_in_frame(frame) == part


@pytest.mark.parametrize("part", sorted(UNKNOWN))
def test_a_field_the_schema_does_not_know_counts_at_any_depth(part: str) -> None:
    request = _request(now_ms(), part)
    payload = request.SerializeToString()
    assert any(marker.encode() in payload for marker in MARKERS), "the parse keeps what it does not know"
    assert buyer_text_in(request) == "", "the parse shows no part of ours"
    frame = encode_frame(payload, version=203, device_id=1, token=0, reqnum=1)
    assert buyer_text_in_frame(frame) == UNKNOWN_FIELDS and UNKNOWN_FIELDS not in BUYERS_OWN
    request.ticket.printed_ticket = EMAIL  # a part of ours is named first
    frame = encode_frame(request.SerializeToString(), version=203, device_id=1, token=0, reqnum=1)
    assert buyer_text_in_frame(frame) == "printed_ticket"


def test_the_sellers_words_and_a_plain_receipt_are_no_buyer_text() -> None:
    request = _request(now_ms())
    request.ticket.operator.name = "Aigerim"  # the cashier: mapped into our receipt, kept as ours are
    request.ticket.domain.taxi.car_number = "777ABC02"  # the taxi's plate
    request.ticket.domain.type = ofd_pb2.DOMAIN_TAXI
    request.service.security_stats.os_version = "Android 13"
    assert buyer_text_in(request) == ""
    frame = encode_frame(request.SerializePartialToString(), version=203, device_id=1, token=0, reqnum=1)
    assert buyer_text_in_frame(frame) == "", "every field known, canonical bytes: the frame is kept"
    placement = ofd_pb2.Request(command=ofd_pb2.COMMAND_MONEY_PLACEMENT)
    assert buyer_text_in(placement) == ""
    assert buyer_text_in_frame(frame[:FRAME_HEADER_BYTES] + placement.SerializeToString()) == ""


def test_the_published_request_frames_are_no_buyer_text() -> None:
    for name in ("derived_info_request_203",):
        assert buyer_text_in_frame(published_frame(name)) == "", name


def test_presence_counts_not_the_last_value() -> None:
    # printed_ticket = <the buyer's text>, then printed_ticket = "": the parse keeps "", the frame both.
    payload = _request(now_ms(), "printed_ticket").SerializeToString() + b"\x12\x02\x62\x00"
    assert ofd_pb2.Request.FromString(payload).ticket.printed_ticket == ""
    frame = encode_frame(payload, version=203, device_id=1, token=0, reqnum=1)
    assert EMAIL.encode() in frame and buyer_text_in_frame(frame) == "printed_ticket"
    assert buyer_text_in_frame(frame[:18] + b"\xff\xff") != "", "bytes that do not parse may hold anything"
    assert FRAME_HEADER_BYTES == HEADER_SIZE


def _files_holding_markers(root: Path) -> list[str]:
    found: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        found.extend(f"{path.relative_to(root)}: {marker}" for marker in MARKERS if marker.encode() in data)
    return found


async def _columns_holding_markers(service: GatewayService) -> list[str]:
    """Every String column of every table of the gateway's database, searched for the markers."""
    columns = await rows(service, "SELECT table, name FROM system.columns WHERE database = {database:String}"
                                  " AND type LIKE '%String%'", database=service.storage.database)
    found = []
    for table, column in columns:
        for marker in MARKERS:
            where = f"position(toString(`{column}`), {{marker:String}}) > 0"
            sql = f"SELECT count() FROM {{db}}.`{table}` WHERE {where}"
            hits = await rows(service, sql, marker=marker)
            if hits[0][0]:
                found.append(f"{table}.{column}: {marker}")
    return found


@pytest.mark.clickhouse
async def test_buyer_text_in_a_frame_is_kept_nowhere_in_clear(
    service: GatewayService, register: Register, settings: Settings,
) -> None:
    start = now_ms() - 3600_000
    assert (await register.send(_request(start))).result.result_code == 0  # opens the shift; keeps its frame
    numbers = []
    for offset, part in enumerate([*sorted(FREE_TEXT), *sorted(UNKNOWN)], start=1):
        answer = await register.send(_request(start + offset * 1000, part))
        assert answer.result.result_code == 0, f"{part}: content is never refused"
        numbers.append(answer.ticket.ticket_number)
    assert all(len(number) == 10 for number in numbers), "answered with a fiscal number like any receipt"
    placement = ofd_pb2.MoneyPlacementRequest(
        datetime=when(start + 60_000), sum=money(5_000), operator=ofd_pb2.Operator(code=7),
        operation=ofd_pb2.MONEY_PLACEMENT_DEPOSIT)
    deposit = ofd_pb2.Request(command=ofd_pb2.COMMAND_MONEY_PLACEMENT, money_placement=placement,
                              service=Service(auxiliary=[KV(key="buyer", value=EMAIL)]))
    assert (await register.send(deposit)).result.result_code == 0
    assert any(EMAIL.encode() in frame for frame in register.sent), "the markers did travel"
    await shipped(service)

    assert _files_holding_markers(settings.data_dir) == [], "journal, quarantine, logs: nothing in clear"
    assert await _columns_holding_markers(service) == [], "no row of any table holds them in clear"
    stored = await rows(service, "SELECT kind, protection, event != '', evidence != '' FROM {db}.events "
                                 "WHERE device_id = 'KKM-200001' ORDER BY seq")
    assert stored == [
        ("shift_open", "", True, False), ("receipt", "", True, True),
        *[("receipt", "", True, False)] * (len(FREE_TEXT) + len(UNKNOWN)), ("cash_movement", "", True, False),
    ], "the event bytes hold none of it and are kept; the frames holding it are not"
    anomalies = await rows(service, "SELECT detail FROM {db}.anomalies "
                                    "WHERE kind = 'pii_without_consent' ORDER BY seq")
    # Said where the buyer's own part came, not for printed text or key-value pairs (sent by many
    # registers on every document): their frames are not kept, silently.
    assert [detail.split("'s ")[1].split(" holds")[0] for (detail,) in anomalies] == sorted(BUYERS_OWN)

    # What the receipt page and API show of each receipt: the read side's own query.
    seqs = [seq for (seq,) in await rows(service, "SELECT seq FROM {db}.receipts ORDER BY seq")]
    assert len(seqs) == len(FREE_TEXT) + len(UNKNOWN) + 1

    def pages(client: Any) -> list[dict[str, Any]]:
        receipts = Receipts(client, service.storage.database, ADMIN)
        return [receipts.receipt("KKM-200001", seq) for seq in seqs]

    shown = json.dumps(await service.storage.run(pages), default=str)
    assert [marker for marker in MARKERS if marker in shown] == []

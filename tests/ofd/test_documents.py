"""OFD documents as our events: items, modifiers, storno, payments, buyer, parent, limits (no storage)."""

from __future__ import annotations

import pytest

from gateway.ingest.code_verdicts import codes_of
from gateway.ingest.receipt_validation import validate_event
from gateway.ofd import documents, units
from gateway.ofd.documents import Mapping
from gateway.settings import Limits
from gateway.wire import ofd_pb2, pb
from tests.ofd.registers import OFFSET_MIN, T, commodity, money, ticket, vat

T0 = 1_790_000_000_000


def mapped(request: T, limits: Limits | None = None, **service: object) -> tuple[pb.Receipt, Mapping]:
    mapping = Mapping(limits or Limits(), OFFSET_MIN, {"010101012345": "KKM-1"}.get)
    message = ofd_pb2.Request(command=ofd_pb2.COMMAND_TICKET, ticket=request)
    if service:
        message.service.CopyFrom(ofd_pb2.ServiceRequest(**service))  # type: ignore[arg-type]
    receipt, time_ms = documents.receipt(message, mapping)
    assert time_ms == T0
    return receipt, mapping


def kinds(receipt: pb.Receipt) -> list[str]:
    return sorted(f.kind for f in validate_event(pb.Event(time_ms=T0, receipt=receipt), T0))


def test_a_plain_sale_maps_field_by_field_and_adds_up() -> None:
    receipt, mapping = mapped(ticket(T0, [commodity("Milk", 45_050, quantity=2000, codes=("c1", "c2"),
                                                   barcode="4600439931256")], change=4_900))
    line = receipt.lines[0]
    assert (receipt.operation, receipt.total, receipt.change) == (pb.SELL, 90_100, 4_900)
    assert (line.name, line.quantity, line.price, line.sum, line.gtin) == ("Milk", 2000, 45_050, 90_100,
                                                                          "4600439931256")
    assert list(line.marking_codes) == ["c1", "c2"] and line.unit == "796" and line.section_code == "1"
    assert (line.taxes[0].rate_bp, line.taxes[0].sum, line.taxes[0].taxation_type) == (1200, 9653, 101)
    assert [(p.type, p.sum) for p in receipt.payments] == [(pb.CASH, 95_000)], "the cash handed over"
    assert receipt.cashier == "Aigerim" and not receipt.offline and not mapping.findings
    assert kinds(receipt) == []


def test_item_modifiers_go_onto_the_line_before_them_and_receipt_modifiers_onto_the_receipt() -> None:
    request = ticket(T0, [
        commodity("Bread", 25_000),
        T.Item(type=T.Item.ITEM_TYPE_DISCOUNT, discount=T.Modifier(sum=money(2_500), taxes=[vat(2_500)])),
        commodity("Jam", 10_000),
        T.Item(type=T.Item.ITEM_TYPE_MARKUP, markup=T.Modifier(sum=money(1_000), taxes=[vat(1_000)])),
    ], amounts_discount=1_000)
    request.amounts.discount.CopyFrom(T.Modifier(name="Card", sum=money(1_000), taxes=[vat(1_000)]))
    receipt, _ = mapped(request)
    bread, jam = receipt.lines
    assert (bread.discount, bread.sum, bread.taxes[0].sum) == (2_500, 22_500, 2678 - 267)
    assert (jam.markup, jam.sum) == (1_000, 11_000)
    assert (receipt.discount.sum, receipt.discount.name, receipt.markup.sum) == (1_000, "Card", 0)
    assert receipt.total == 22_500 + 11_000 - 1_000
    assert kinds(receipt) == []


def test_storno_lines_are_kept_marked_netted_out_and_their_codes_sold_by_nobody() -> None:
    request = ticket(T0, [
        commodity("Cigarettes", 90_000, codes=("A", "B")),
        commodity("Cigarettes", 90_000, codes=("C",)),
        T.Item(type=T.Item.ITEM_TYPE_STORNO_COMMODITY, storno_commodity=T.StornoCommodity(
            name="Cigarettes", section_code="1", quantity=1000, price=money(90_000), sum=money(90_000),
            taxes=[vat(90_000)], list_excise_stamp=["B"])),
        T.Item(type=T.Item.ITEM_TYPE_STORNO_DISCOUNT, storno_discount=T.Modifier(sum=money(0))),
    ])
    receipt, _ = mapped(request)
    assert [line.storno for line in receipt.lines] == [False, False, True]
    assert receipt.total == 90_000 and kinds(receipt) == []
    event = pb.Event(time_ms=T0, receipt=receipt)
    assert [code for _, _, code in codes_of(event)] == ["A", "C"], "the cancelled item's code is not sold"


def test_a_storno_of_goods_the_receipt_does_not_hold_is_a_finding() -> None:
    request = ticket(T0, [
        commodity("Tea", 10_000),
        T.Item(type=T.Item.ITEM_TYPE_STORNO_COMMODITY, storno_commodity=T.StornoCommodity(
            name="Coffee", section_code="1", quantity=1000, price=money(5_000), sum=money(5_000))),
    ])
    assert "storno_unmatched" in kinds(mapped(request)[0])


def test_card_and_mobile_details_buyer_parent_and_place() -> None:
    buyer = T.ExtensionOptions(customer_email="a@b.kz", customer_phone="+77010000000")
    parent = T.ParentTicket(parent_ticket_number="4228143549", kgd_kkm_id="010101012345",
                            parent_ticket_data_time=units.local_datetime(T0 - 1000, 300),
                            parent_ticket_total=money(10_000), parent_ticket_is_offline=True)
    request = ticket(T0, [commodity("Tea", 10_000)], card=4_000, cash=6_000,
                     operation=ofd_pb2.OPERATION_SELL_RETURN, extension_options=buyer, parent_ticket=parent)
    request.payments.add(type=ofd_pb2.PAYMENT_MOBILE, sum=money(0), mobile_payment_fields=(
        T.Payment.MobilePaymentFields(qr_type="KASPI", qr_id="QR-77")))
    geo = ofd_pb2.ServiceRequest.SecurityStats(geo_position=ofd_pb2.ServiceRequest.SecurityStats.GeoPosition(
        latitude=43_238_949, longitude=76_889_709))
    receipt, mapping = mapped(request, security_stats=geo)
    card = receipt.payments[1].card
    assert (card.terminal_id, card.rrn, card.auth_code) == ("T-77", "123456789012", "4711")
    assert (receipt.payments[2].mobile.qr_type, receipt.payments[2].mobile.qr_id) == ("KASPI", "QR-77")
    assert (receipt.buyer.email, receipt.buyer.phone) == ("a@b.kz", "+77010000000")
    parent = receipt.parent
    assert (parent.fiscal_sign, parent.device_id, parent.register_number, parent.total, parent.offline,
            parent.time_ms) == ("4228143549", "KKM-1", "010101012345", 10_000, True, T0 - 1000)
    assert (receipt.location.latitude_e6, receipt.location.longitude_e6) == (43_238_949, 76_889_709)
    assert "missing_parent" not in kinds(receipt) and not mapping.findings


def test_an_offline_receipt_is_marked_by_its_number_or_the_offline_period() -> None:
    numbered, _ = mapped(ticket(T0, [commodity("Tea", 10_000)], offline_number=1_790_000))
    assert (numbered.offline, numbered.offline_number) == (True, 1_790_000)
    period = ofd_pb2.ServiceRequest.OfflinePeriod(begin_time=units.local_datetime(T0, 300),
                                                  end_time=units.local_datetime(T0, 300))
    caught, _ = mapped(ticket(T0, [commodity("Tea", 10_000)]), offline_period=period)
    assert caught.offline and not caught.offline_number


def test_what_exceeds_the_limits_is_cut_with_a_finding_never_refused() -> None:
    limits = Limits(max_string_chars=10, max_codes_per_line=1, max_lines=2)
    request = ticket(T0, [commodity("A very long name", 100, codes=("c1", "c2")), commodity("B", 100),
                          commodity("C", 100)])
    request.items.add(type=T.Item.ITEM_TYPE_DISCOUNT)  # a type without its body: left out
    receipt, mapping = mapped(request, limits)
    assert receipt.lines[0].name == "A very lon" and list(receipt.lines[0].marking_codes) == ["c1"]
    assert len(receipt.lines) == 2
    assert sorted(f.kind for f in mapping.findings) == [
        "ofd_field_truncated", "ofd_field_truncated", "ofd_field_truncated", "ofd_item_malformed"]


def test_a_date_that_does_not_exist_is_time_zero_and_a_bad_time_finding() -> None:
    request = ticket(T0, [commodity("Tea", 10_000)])
    request.date_time.date.month = 13
    mapping = Mapping(Limits(), OFFSET_MIN, lambda _: None)
    receipt, time_ms = documents.receipt(ofd_pb2.Request(command=1, ticket=request), mapping)
    assert time_ms == 0
    assert "bad_time" in [f.kind for f in validate_event(pb.Event(time_ms=time_ms, receipt=receipt), T0)]


@pytest.mark.parametrize(("local", "utc_ms"), [((2026, 9, 21, 19, 13, 20), 1_790_000_000_000)])
def test_register_time_is_almaty_local(local: tuple[int, ...], utc_ms: int) -> None:
    year, month, day, hour, minute, second = local
    value = ofd_pb2.DateTime(date=ofd_pb2.Date(year=year, month=month, day=day),
                             time=ofd_pb2.Time(hour=hour, minute=minute, second=second))
    assert units.local_ms(value, 300) == utc_ms
    assert units.local_datetime(utc_ms, 300) == value
    assert units.parse_compact_local(units.compact_local(utc_ms, 300), 300) == utc_ms
    assert (units.tiyn(ofd_pb2.Money(bills=12, coins=5)), units.money(1205)) == (1205, ofd_pb2.Money(bills=12,
                                                                                                       coins=5))
    assert (units.rate_bp(12000), units.percent(1200), units.operation(2), units.payment_type(4)) == (
        1200, 12000, pb.SELL, pb.MOBILE)

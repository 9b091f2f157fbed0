"""Never reject content: a well-formed document with the right token is accepted and answered OK whatever
is wrong with it, and each problem becomes an anomaly, as for our own contract."""

from __future__ import annotations

import time

import pytest

from gateway.service import GatewayService
from gateway.wire import ofd_pb2
from tests.ofd.registers import Register, T, commodity, money, ticket, when
from tests.ofd.stored import rows

pytestmark = pytest.mark.clickhouse
CODE = "010460043993125621TWICE\x1d93abcd"


def now_ms() -> int:
    return time.time_ns() // 1_000_000 // 1000 * 1000


async def test_every_problem_is_accepted_and_becomes_an_anomaly(
    service: GatewayService, register: Register,
) -> None:
    now = now_ms()
    day = 86_400_000
    period = ofd_pb2.ServiceRequest.OfflinePeriod(begin_time=when(now - 4 * day), end_time=when(now))
    late = ticket(now - 4 * day, [commodity("Old milk", 10_000)], offline_number=1)
    wrong_total = ticket(now - 4 * day + 1000, [commodity("Bread", 20_000)], offline_number=2)
    wrong_total.amounts.total.bills += 5
    storno = ticket(now - 4 * day + 2000, [
        commodity("Tea", 10_000),
        T.Item(type=T.Item.ITEM_TYPE_STORNO_COMMODITY, storno_commodity=T.StornoCommodity(
            name="Coffee", section_code="1", quantity=1000, price=money(5_000), sum=money(5_000))),
    ], offline_number=3)
    for document in (late, wrong_total, storno):
        assert (await register.ticket(document, offline_period=period)).result.result_code == 0
    # Shift 2 now, shift 1 never closed (the register's own numbers say so).
    first = ticket(now - 3000, [commodity("Cigarettes", 90_000, codes=(CODE,))], shift=2)
    second = ticket(now - 2000, [commodity("Cigarettes", 90_000, codes=(CODE,))])
    orphan = ticket(now - 1000, [commodity("Cigarettes", 90_000)], operation=ofd_pb2.OPERATION_SELL_RETURN)
    stranger = ticket(now - 500, [commodity("Cigarettes", 90_000)], operation=ofd_pb2.OPERATION_SELL_RETURN,
                      parent_ticket=T.ParentTicket(
                          parent_ticket_number="4228143549", parent_ticket_data_time=when(now - day),
                          kgd_kkm_id="999999999999", parent_ticket_total=money(90_000),
                          parent_ticket_is_offline=False))
    ahead = ticket(now + 3600_000, [commodity("Soap", 3_000, barcode="9" * 2000)])
    for document in (first, second, orphan, stranger, ahead):
        assert (await register.ticket(document)).result.result_code == 0
    assert (await register.money(now, 10**9, deposit=False)).result.result_code == 0, "never NOT_ENOUGH_CASH"
    z = ofd_pb2.ZXReport(date_time=when(now), shift_number=2, cash_sum=money(0),
                         revenue=ofd_pb2.ZXReport.Revenue(sum=money(1), is_negative=False),
                         ticket_operations=[ofd_pb2.ZXReport.TicketOperation(
                             operation=ofd_pb2.OPERATION_SELL, tickets_total_count=1, tickets_count=1,
                             tickets_sum=money(1))])
    assert (await register.close_shift(now + 1000, z)).result.result_code == 0, "a Z that disagrees"
    found = await rows(service, "SELECT DISTINCT kind FROM {db}.anomalies WHERE device_id = 'KKM-200001'")
    assert {kind for (kind,) in found} == {
        "late_upload", "total_mismatch", "payment_mismatch", "storno_unmatched", "code_unknown",
        "code_sold_twice", "missing_parent", "parent_register_unknown", "clock_skew", "ofd_field_truncated",
        "cash_short", "z_report_mismatch", "shift_not_closed",
    }
    accepted = await rows(service, "SELECT count() FROM {db}.events WHERE device_id = 'KKM-200001'")
    assert accepted == [(12,)], "2 shift opens, 8 receipts, a withdrawal, the Z: nothing refused"


async def test_absurd_amounts_and_numbers_are_stored_saturated_not_answered_255(
    service: GatewayService, register: Register,
) -> None:
    top = ofd_pb2.Money(bills=2**64 - 1, coins=99)
    huge = ticket(now_ms(), [commodity("Gold", 10_000)], printed_document_number=2**64 - 1)
    item = huge.items[0].commodity
    item.price.CopyFrom(top)
    item.sum.CopyFrom(top)
    item.quantity = 2**64 - 1
    for _ in range(3):
        huge.items.add(type=T.Item.ITEM_TYPE_MARKUP, markup=T.Modifier(sum=top, taxes=[T.Tax(
            tax_type=100, percent=2**32 - 1, sum=top, is_in_total_sum=True)]))
    huge.amounts.total.CopyFrom(top)
    huge.payments[0].sum.CopyFrom(top)
    for _ in range(3):
        assert (await register.ticket(huge)).result.result_code == 0
    huge.ClearField("printed_document_number")
    assert (await register.ticket(huge)).result.result_code == 0, "the document number after 2^64-1"
    assert (await register.money(now_ms(), 2**63, deposit=False)).result.result_code == 0
    x = await register.report(now_ms())
    assert x.result.result_code == 0
    stored = await rows(service, "SELECT count(), max(total) FROM {db}.receipts")
    assert stored == [(4, 2**63 - 1)]

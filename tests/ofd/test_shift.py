"""A register speaking OFD 2.0.3 works through a whole shift against the real pipeline, journal and chDB,
and every document shows up in ClickHouse like the events of our own contract."""

from __future__ import annotations

import time

import pytest

from gateway.auth.tokens import ADMIN
from gateway.ofd.units import tiyn
from gateway.query.consumer_check import CheckQuery, check_receipt
from gateway.query.local_time import local_day
from gateway.query.reconcile import reconcile_day
from gateway.query.verify import verify_fiscal_sign
from gateway.service import GatewayService
from gateway.wire import ofd_pb2, pb, signing
from tests.ofd.conftest import KGD_NUMBER, SELLER
from tests.ofd.registers import Register, T, commodity, money, ticket, vat, when, z_report
from tests.ofd.stored import rows

pytestmark = pytest.mark.clickhouse
GTIN = "04600439931256"


def code(serial: str) -> str:
    """A marking code of the test GTIN, verbatim as a scanner gives it (GS kept)."""
    return f"01{GTIN}21{serial}\x1d93abcd"


def now_ms() -> int:
    return time.time_ns() // 1_000_000 // 1000 * 1000  # whole seconds: OFD times have no milliseconds


async def test_a_whole_shift_reaches_clickhouse_like_our_own_events(
    service: GatewayService, register: Register,
) -> None:
    start = now_ms() - 2 * 3600_000
    known = f"01{GTIN}21KNOWN1"
    service.code_verdicts.index.put_registry(known, "introduced", SELLER, 0)  # type: ignore[union-attr]

    info = await register.info()  # a register's first call: no shift yet, registration confirmed
    assert info.result.result_code == 0 and info.report.zx_report.shift_number == 0
    assert info.service.reg_info.kkm.fns_kkm_id == KGD_NUMBER and info.service.reg_info.org.inn == SELLER

    assert (await register.money(start, 1_000_000)).result.result_code == 0  # cash in: opens shift 1
    tokens = [register.token]
    sale = await register.ticket(ticket(start + 60_000, [
        commodity("Milk", 45_000, codes=(known + "\x1d93abcd",), barcode=GTIN),
        commodity("Tobacco", 120_000, codes=(code("UNREG1"),), barcode=GTIN),
    ], change=5_000, shift=1))
    assert sale.result.result_code == 0
    tokens.append(register.token)
    number = sale.ticket.ticket_number
    assert len(number) == 10 and number.isdigit()
    url = sale.ticket.qr_code.decode()
    assert url.startswith("https://check.example.kz/check?i=" + number) and f"f={KGD_NUMBER}" in url
    assert "s=1650.00" in url

    discounted = ticket(start + 120_000, [
        commodity("Bread", 25_000),
        T.Item(type=T.Item.ITEM_TYPE_DISCOUNT,
               discount=T.Modifier(name="Loyalty", sum=money(2_500), taxes=[vat(2_500)])),
    ], card=22_500, cash=0, shift=1)
    assert (await register.ticket(discounted)).result.result_code == 0
    back = ticket(start + 180_000, [commodity("Milk", 45_000, codes=(known + "\x1d93abcd",), barcode=GTIN)],
                  operation=ofd_pb2.OPERATION_SELL_RETURN, shift=1, parent_ticket=T.ParentTicket(
                      parent_ticket_number=number, parent_ticket_data_time=when(start + 60_000),
                      kgd_kkm_id=KGD_NUMBER, parent_ticket_total=money(165_000),
                      parent_ticket_is_offline=False))
    assert (await register.ticket(back)).result.result_code == 0
    # An offline hour: three receipts numbered by the register, sent in order when it is back.
    period = ofd_pb2.ServiceRequest.OfflinePeriod(begin_time=when(start + 600_000),
                                                  end_time=when(start + 4_200_000))
    for n in range(3):
        offline = ticket(start + 600_000 + n * 1_200_000, [commodity("Water", 30_000)], shift=1,
                         offline_number=int(start / 1000) + n)
        assert (await register.ticket(offline, offline_period=period)).result.result_code == 0
    x = await register.report(start + 4_300_000)
    sells = {t.operation: t for t in x.report.zx_report.ticket_operations}
    assert sells[ofd_pb2.OPERATION_SELL].tickets_count == 5
    assert tiyn(sells[ofd_pb2.OPERATION_SELL].tickets_sum) == 165_000 + 22_500 + 3 * 30_000
    assert sells[ofd_pb2.OPERATION_SELL].offline_count == 3
    assert register.token == tokens[-1] or register.token != tokens[0]  # REPORT keeps the token
    cash = 1_000_000 + 165_000 + 90_000 - 45_000
    assert tiyn(x.report.zx_report.cash_sum) == cash
    z = z_report(start + 4_400_000, 1, (5, 277_500), (1, 45_000), cash, 1_000_000)
    closed = await register.close_shift(start + 4_400_000, z)
    assert closed.result.result_code == 0 and closed.report.report == ofd_pb2.REPORT_Z
    assert closed.report.zx_report.HasField("close_shift_time")
    after = await register.info()
    assert after.report.report == ofd_pb2.REPORT_Z and after.report.zx_report.shift_number == 1
    assert after.service.last_document_info.fr_shift_number == 1

    device_id = "KKM-200001"
    events = await rows(service, "SELECT seq, kind, authentication, evidence != '', fiscal_sign, "
                                 "envelope_hash, prev_hash, signature, event FROM {db}.events "
                                 "WHERE device_id = {d:String} ORDER BY seq",
                        binary=("envelope_hash", "prev_hash", "signature", "event"), d=device_id)
    kinds = [e[1] for e in events]
    assert kinds == ["shift_open", "cash_movement", *["receipt"] * 6, "shift_close"]
    assert [e[0] for e in events] == list(range(1, 10)), "the gateway's chain is gapless"
    assert {e[2] for e in events} == {"ofd_token"}
    assert [e[3] for e in events] == [False, *[True] * 8], "each document keeps its frame as evidence"
    key = service.registry.key(device_id)
    assert key is not None
    prev = signing.genesis_hash(device_id)
    for seq, _, _, _, _, envelope_hash, prev_hash, signature, event in events:
        preimage = signing.event_preimage(device_id, seq, prev_hash, event)
        assert prev_hash == prev and signing.envelope_hash(preimage) == envelope_hash
        assert signing.verify_signature(key, preimage, signature), "signed by the register's gateway-held key"
        prev = envelope_hash
    receipt_signs = [e[4] for e in events if e[1] == "receipt"]
    assert receipt_signs[0] == number
    receipts = await rows(service, "SELECT operation, total, offline, discount, card, shift_number, "
                                   "parent_fiscal_sign, parent_register_number FROM {db}.receipts "
                                   "WHERE device_id = {d:String} ORDER BY seq", d=device_id)
    assert [r[0] for r in receipts] == ["SELL", "SELL", "SELL_RETURN", "SELL", "SELL", "SELL"]
    assert [r[2] for r in receipts] == [False, False, False, True, True, True]
    assert receipts[1][4] == 22_500 and {r[5] for r in receipts} == {1}
    assert receipts[2][6:] == (number, KGD_NUMBER)
    lines = await rows(service, "SELECT name, discount, sum FROM {db}.receipt_lines "
                                "WHERE device_id = {d:String} AND name = 'Bread'", d=device_id)
    assert lines == [("Bread", 2_500, 22_500)], "an item discount is the line's discount"
    codes = await rows(service, "SELECT kind, verdict FROM {db}.code_events WHERE device_id = {d:String} "
                                "ORDER BY received_at, kind", d=device_id)
    assert sorted(codes) == [("return", "returned"), ("sale", "unknown"), ("sale", "valid")]
    shifts = await rows(service, "SELECT shift_number, sell_count, sell_sum, cash_deposits, cash_in_drawer "
                                 "FROM {db}.shifts WHERE device_id = {d:String}", d=device_id)
    assert shifts == [(1, 5, 277_500, 1_000_000, cash)]
    anomalies = await rows(service, "SELECT kind FROM {db}.anomalies WHERE device_id = {d:String}",
                           d=device_id)
    assert sorted(a[0] for a in anomalies) == ["code_unknown"], "a Z that agrees, sums that add up"

    verdict = await verify_fiscal_sign(service, device_id, 3, number)
    assert verdict["valid"] and verdict["total"] == 165_000
    genuine = await check_receipt(service, CheckQuery(number, KGD_NUMBER, 165_000, start + 60_000))
    assert genuine == {"genuine": True, "reason": "this receipt was registered"}
    forged = await check_receipt(service, CheckQuery(number, KGD_NUMBER, 165_100, start + 60_000))
    assert not forged["genuine"]


async def test_a_register_that_keeps_the_shift_open_too_long_is_told_11_online_only(
    service: GatewayService, register: Register,
) -> None:
    start = now_ms() - 30 * 3600_000
    assert (await register.ticket(ticket(start, [commodity("Tea", 10_000)]))).result.result_code == 0
    late = ticket(start + 25 * 3600_000, [commodity("Tea", 10_000)])
    refused = await register.ticket(late)
    assert refused.result.result_code == 11
    late.offline_ticket_number = 77
    assert (await register.ticket(late)).result.result_code == 0, "never for offline documents"
    z = z_report(start + 26 * 3600_000, 1, (2, 20_000), (0, 0), 20_000, 0)
    del z.money_placements[:]
    assert (await register.close_shift(start + 26 * 3600_000, z)).result.result_code == 0
    fresh = ticket(start + 26 * 3600_000 + 60_000, [commodity("Tea", 10_000)])
    assert (await register.ticket(fresh)).result.result_code == 0, "the next shift opens with it"
    opens = await rows(service, "SELECT seq FROM {db}.events WHERE device_id = 'KKM-200001' AND "
                                "kind = 'shift_open'")
    assert len(opens) == 2


async def test_a_buyer_who_is_the_seller_is_code_17_online_and_a_finding_offline(
    service: GatewayService, register: Register,
) -> None:
    buyer = T.ExtensionOptions(customer_iin_or_bin=SELLER)
    online = ticket(now_ms(), [commodity("Tea", 10_000)], extension_options=buyer)
    assert (await register.ticket(online)).result.result_code == 17
    offline = ticket(now_ms(), [commodity("Tea", 10_000)], extension_options=buyer, offline_number=5)
    assert (await register.ticket(offline)).result.result_code == 0
    kinds = await rows(service, "SELECT kind FROM {db}.anomalies WHERE device_id = 'KKM-200001'")
    assert ("same_taxpayer_and_customer",) in kinds and ("pii_without_consent",) in kinds
    stored = await rows(service, "SELECT protection, evidence FROM {db}.events WHERE kind = 'receipt'")
    assert stored == [("erased", "")], (
        "the buyer's IIN is in the frame: kept as the event bytes are, here not at all (no consent)")


async def test_a_cancelled_receipt_is_annulled_in_the_counters(
    service: GatewayService, register: Register,
) -> None:
    register.version = 202
    start = now_ms() - 3600_000
    await register.ticket(ticket(start, [commodity("Tea", 10_000)]))
    await register.ticket(ticket(start + 60_000, [commodity("Cake", 50_000)]))
    cancel = await register.send(ofd_pb2.Request(command=ofd_pb2.COMMAND_CANCEL_TICKET))
    assert cancel.result.result_code == 0
    again = await register.send(ofd_pb2.Request(command=ofd_pb2.COMMAND_CANCEL_TICKET))
    assert again.result.result_code == 0, "a second cancel is accepted: nothing left to annul is a finding"
    x = (await register.report(start + 120_000)).report.zx_report
    assert [(t.tickets_count, tiyn(t.tickets_sum)) for t in x.ticket_operations] == [(1, 10_000)]
    assert x.annulled_tickets.count == 1 and tiyn(x.annulled_tickets.operations[0].sum) == 50_000
    cancels = await rows(service, "SELECT event FROM {db}.events WHERE kind = 'receipt_cancel' ORDER BY seq",
                         binary=("event",))
    first = pb.Event.FromString(cancels[0][0]).receipt_cancel
    assert (first.total, first.document_number, first.operation) == (50_000, 2, pb.SELL)
    kinds = await rows(service, "SELECT kind FROM {db}.anomalies")
    assert kinds == [("cancel_without_receipt",)]


async def test_cash_movements_and_the_z_report_numbered_with_the_receipts_are_not_missing_receipts(
    service: GatewayService, register: Register,
) -> None:
    # The register numbers every document: deposit 1, receipt 2, withdrawal 3, receipt 4, Z report 5.
    start = now_ms() - 2 * 3600_000
    assert (await register.money(start, 500_000)).result.result_code == 0
    tea = ticket(start + 60_000, [commodity("Tea", 10_000)])
    cake = ticket(start + 180_000, [commodity("Cake", 50_000)])
    assert (await register.ticket(tea)).result.result_code == 0
    assert (await register.money(start + 120_000, 100_000, deposit=False)).result.result_code == 0
    assert (await register.ticket(cake)).result.result_code == 0
    assert (await register.close_shift(start + 240_000, None)).result.result_code == 0
    numbers = await rows(service, "SELECT document_number FROM {db}.receipts ORDER BY seq")
    assert numbers == [(2,), (4,)]
    close = await rows(service, "SELECT event FROM {db}.events WHERE kind = 'shift_close'", binary=("event",))
    z = pb.Event.FromString(close[0][0]).shift_close
    assert (z.first_document_number, z.last_document_number, list(z.other_document_numbers)) == (2, 4, [3])
    day = local_day(start + 240_000)
    found = await service.storage.run(
        lambda c: reconcile_day(c, service.storage.database, ADMIN, SELLER, day)
    )
    [shift] = found["shifts"]
    assert (shift["missing_document_count"], shift["missing_documents"], shift["agrees"]) == (0, [], True)

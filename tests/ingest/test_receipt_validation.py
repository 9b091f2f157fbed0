"""Receipt and Z-report arithmetic: problems become findings with stable kinds, never rejections."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gateway.ingest.receipt_validation import (
    OFFLINE_LIMIT_MS,
    event_time_findings,
    expected_included_tax,
    round_half_up,
    validate_event,
)
from gateway.settings import Limits
from gateway.wire import pb
from tests.ingest.conftest import NOW_MS, receipt


def _kinds(event: pb.Event) -> list[str]:
    return sorted(f.kind for f in validate_event(event, NOW_MS))


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [(1499, 1000, 1), (1500, 1000, 2), (2500, 1000, 3), (2499, 1000, 2), (0, 7, 0), (-1500, 1000, -1)],
)
def test_round_half_up(numerator: int, denominator: int, expected: int) -> None:
    assert round_half_up(numerator, denominator) == expected


def test_vat_included_at_12_percent() -> None:
    assert expected_included_tax(11200, 1200) == 1200
    assert expected_included_tax(1500, 1200) == 161  # 160.71…


def test_weighed_goods_round_half_up() -> None:
    event = receipt(prices=(1999,), quantity=1250)  # 1.25 kg at 19.99: 2498.75 -> 2499
    assert event.receipt.lines[0].sum == 2499
    assert _kinds(event) == []


def test_a_receipt_that_adds_up_has_no_findings() -> None:
    assert _kinds(receipt()) == []


def _line(change: Callable[[pb.ReceiptLine], None]) -> Callable[[pb.Receipt], None]:
    def apply(receipt_: pb.Receipt) -> None:
        change(receipt_.lines[1])

    return apply


def _set_line_sum(line: pb.ReceiptLine) -> None:
    line.sum += 10


def _negative_quantity(line: pb.ReceiptLine) -> None:
    line.quantity = -1000


def _tax_off_by_two(line: pb.ReceiptLine) -> None:
    line.taxes[0].sum += 2


def _return_without_parent(r: pb.Receipt) -> None:
    r.operation = pb.SELL_RETURN


def _payment_short(r: pb.Receipt) -> None:
    r.payments[0].sum -= 100


def _total_off(r: pb.Receipt) -> None:
    r.total += 1
    r.payments[0].sum += 1


def _card_with_change(r: pb.Receipt) -> None:
    r.payments[0].type = pb.CARD


def _receipt_tax_total_off(r: pb.Receipt) -> None:
    r.taxes.add(tax_type=100, rate_bp=1200, sum=sum(line.taxes[0].sum for line in r.lines) + 5)


def _no_lines(r: pb.Receipt) -> None:
    del r.lines[:]
    r.total = 0
    r.payments[0].sum = r.change


@pytest.mark.parametrize(
    ("change", "kinds"),
    [
        (_line(_set_line_sum), ["line_sum_mismatch", "total_mismatch"]),
        (_line(_negative_quantity), ["bad_quantity", "line_sum_mismatch"]),
        (_line(_tax_off_by_two), ["tax_mismatch"]),
        (_return_without_parent, ["missing_parent"]),
        (_payment_short, ["payment_mismatch"]),
        (_total_off, ["total_mismatch"]),
        (_card_with_change, ["change_exceeds_cash"]),
        (_receipt_tax_total_off, ["tax_total_mismatch"]),
        (_no_lines, ["empty_receipt"]),
    ],
)
def test_each_problem_is_a_finding(change: Callable[[pb.Receipt], None], kinds: list[str]) -> None:
    event = receipt()
    change(event.receipt)
    assert _kinds(event) == kinds


def test_findings_name_the_line() -> None:
    event = receipt()
    event.receipt.lines[1].sum += 10
    line_finding = next(f for f in validate_event(event, NOW_MS) if f.kind == "line_sum_mismatch")
    assert line_finding.line == 2
    assert "computed" in line_finding.detail


def test_a_tax_one_unit_off_is_tolerated() -> None:
    event = receipt()
    event.receipt.lines[0].taxes[0].sum += 1
    assert _kinds(event) == []


def test_a_return_with_its_parent_is_fine() -> None:
    event = receipt()
    event.receipt.operation = pb.SELL_RETURN
    event.receipt.parent.document_number = 41
    event.receipt.parent.device_id = "KKM-0001"
    assert _kinds(event) == []


def test_late_upload_beyond_the_offline_limit() -> None:
    assert _kinds(receipt(time_ms=NOW_MS - OFFLINE_LIMIT_MS + 1000)) == []
    assert _kinds(receipt(time_ms=NOW_MS - OFFLINE_LIMIT_MS - 1000)) == ["late_upload"]


def test_a_clock_ahead_of_the_gateway_is_a_finding_not_a_rejection() -> None:
    limits = Limits(max_future_skew_s=300)
    assert event_time_findings(receipt(time_ms=NOW_MS + 299_000), NOW_MS, limits) == []
    (found,) = event_time_findings(receipt(time_ms=NOW_MS + 301_000), NOW_MS, limits)
    assert found.kind == "clock_skew" and "301 s ahead" in found.detail


def _z_report() -> pb.Event:
    close = pb.ShiftClose(
        shift_number=1,
        receipt_count=3,
        first_document_number=10,
        last_document_number=12,
        operations=[
            pb.OperationTotals(
                operation=pb.SELL, count=2, sum=5000, payments=[pb.Payment(type=pb.CASH, sum=5000)]
            ),
            pb.OperationTotals(
                operation=pb.SELL_RETURN, count=1, sum=700, payments=[pb.Payment(type=pb.CARD, sum=700)]
            ),
        ],
    )
    return pb.Event(time_ms=NOW_MS, shift_close=close)


def test_a_consistent_z_report_has_no_findings() -> None:
    assert _kinds(_z_report()) == []


def test_z_report_inconsistencies() -> None:
    event = _z_report()
    event.shift_close.receipt_count = 4
    event.shift_close.operations[0].payments[0].sum = 4999
    assert _kinds(event) == [
        "shift_count_mismatch",
        "shift_document_range_mismatch",
        "shift_payment_mismatch",
    ]


def test_cash_movement_of_nothing() -> None:
    event = pb.Event(time_ms=NOW_MS, cash_movement=pb.CashMovement(kind=pb.CashMovement.DEPOSIT, sum=0))
    assert _kinds(event) == ["bad_amount"]


def _storno_of_the_second_line(r: pb.Receipt) -> None:
    cancelled = r.lines.add()
    cancelled.CopyFrom(r.lines[1])
    cancelled.storno = True
    r.total -= cancelled.sum
    r.payments[0].sum -= cancelled.sum
    r.taxes.add(tax_type=100, rate_bp=1200, sum=r.lines[0].taxes[0].sum)


def test_a_storno_line_is_netted_out_of_the_total_and_the_tax_totals() -> None:
    event = receipt()
    _storno_of_the_second_line(event.receipt)
    assert _kinds(event) == []
    event.receipt.lines[2].name = "Something else"
    assert _kinds(event) == ["storno_unmatched"]


def test_a_receipt_discount_and_markup_take_part_in_the_total_and_the_tax_totals() -> None:
    event = receipt()
    r = event.receipt
    r.discount.CopyFrom(pb.Adjustment(sum=375, taxes=[pb.Tax(tax_type=100, rate_bp=1200, sum=40)]))
    r.markup.CopyFrom(pb.Adjustment(sum=100, taxes=[pb.Tax(tax_type=100, rate_bp=1200, sum=11)]))
    r.total += 100 - 375
    r.payments[0].sum += 100 - 375
    r.taxes.add(tax_type=100, rate_bp=1200, sum=sum(line.taxes[0].sum for line in r.lines) - 40 + 11)
    assert _kinds(event) == []
    r.total += 375  # the total as if the discount had not been given
    r.payments[0].sum += 375
    assert _kinds(event) == ["total_mismatch"]
    r.discount.sum = -375
    assert "negative_amount" in _kinds(event)


def test_taxes_stated_only_on_the_receipt_are_not_compared_with_untaxed_lines() -> None:
    event = receipt()
    for line in event.receipt.lines:
        del line.taxes[:]
    event.receipt.taxes.add(tax_type=100, rate_bp=1200, sum=402)
    assert _kinds(event) == []


def test_a_tax_added_on_top_of_the_sum_is_not_checked_as_included() -> None:
    event = receipt()
    event.receipt.lines[0].taxes[0].CopyFrom(pb.Tax(tax_type=100, rate_bp=1200, sum=180, added=True))
    assert _kinds(event) == []


def test_a_return_may_name_its_sale_by_fiscal_sign_alone() -> None:
    event = receipt()
    event.receipt.operation = pb.SELL_RETURN
    event.receipt.parent.CopyFrom(pb.ParentDocument(fiscal_sign="4228143549", register_number="010101012345"))
    assert _kinds(event) == []

"""The content checks: an authentic history whose own sums do not add up is reported, with exit status 3."""

from __future__ import annotations

import random

import pytest

from firmware_sim.device import SHIFT_FLOAT, DeviceIdentity, Register
from gateway.export.report import EXIT_CONTENT, EXIT_PASS
from gateway.wire import pb, signing
from tests.export.builders import (
    START_MS,
    TIN,
    Life,
    Lived,
    export_bytes,
    export_of,
    failures,
    live,
    record_of,
    verify,
)


def _register(device_id: str) -> tuple[Register, bytes]:
    clock = iter(range(START_MS, START_MS + 10**9, 30_000))
    register = Register(
        DeviceIdentity(device_id, TIN, "ALA-101"),
        signing.new_private_key(),
        rng=random.Random(5),
        clock=lambda: next(clock),
    )
    return register, signing.public_key_bytes(register.key.public_key())


def _lived(register: Register, first_key: bytes) -> Lived:
    return Lived(register, first_key, [pb.Envelope.FromString(raw) for raw in register.journal.records()])


def _shift(register: Register, sales: int) -> None:
    register.open_shift()
    register.cash_movement(pb.CashMovement.DEPOSIT, SHIFT_FLOAT)
    for _ in range(sales):
        register.sell()


def test_a_z_report_that_under_reports_its_shift() -> None:
    register, key = _register("KKM-Z")
    _shift(register, 6)
    sells = register.shift.operations.by_operation[pb.SELL]
    true_sum, paid_by = sells.sum, max(sells.payments, key=lambda kind: sells.payments[kind])
    true_paid = sells.payments[paid_by]
    # The register signs a Z short of 100 tenge, consistent in itself: only its receipts give it away.
    sells.sum -= 100_00
    sells.payments[paid_by] -= 100_00
    register.close_shift()
    report = verify(export_of(_lived(register, key)))
    assert report.exit_status == EXIT_CONTENT
    z = f"FAIL  KKM-Z  z-reports: seq {register.seq}: Z report of shift 1: SELL"
    assert failures(report) == [
        f"{z} sum {true_sum - 100_00}, its receipts {true_sum}",
        f"{z} {pb.PaymentType.Name(paid_by)} payments {true_paid - 100_00}, its receipts {true_paid}",
    ]
    assert "content only" in report.verdict()


def test_grand_totals_that_do_not_continue_from_the_previous_z() -> None:
    register, key = _register("KKM-GRAND")
    _shift(register, 3)
    register.close_shift()
    _shift(register, 3)
    register.grand_totals.by_operation[pb.SELL].count += 1  # a reset, or a Z from another register
    register.close_shift()
    lines = failures(verify(export_of(_lived(register, key))))
    assert (
        len(lines) == 1 and f"seq {register.seq}: Z report of shift 2: grand totals: SELL count" in lines[0]
    )


def test_a_receipt_whose_lines_do_not_add_up() -> None:
    register, key = _register("KKM-SUM")
    _shift(register, 2)
    receipt = register.new_receipt(pb.SELL)
    receipt.lines.add(name="Bread", quantity=1000, price=250_00, sum=260_00)  # 10 tenge too much
    receipt.total = 260_00
    receipt.payments.add(type=pb.CARD, sum=260_00)
    register.book(receipt)
    register.close_shift()
    report = verify(export_of(_lived(register, key)))
    assert report.exit_status == EXIT_CONTENT
    assert failures(report) == [
        f"FAIL  KKM-SUM  arithmetic: seq {register.seq - 1} (line 1): line_sum_mismatch: line sum 26000, "
        "computed 25000"
    ]


def test_receipts_with_buyer_data_count_from_the_gateways_redacted_copies() -> None:
    lived = live(
        "KKM-BUYERS", 11, Life(shifts=2, receipts_per_shift=(10, 10), buyer_share=0.5, return_share=0)
    )
    report = verify(export_of(lived))
    assert report.exit_status == EXIT_PASS, failures(report)
    [arithmetic] = [line.detail for line in report.lines if line.check == "arithmetic"]
    assert "from the gateway's redacted copies" in arithmetic
    [z] = [line.detail for line in report.lines if line.check == "z-reports"]
    assert z.startswith("2 Z report(s) agree")


@pytest.mark.parametrize("digests", [True, False], ids=["digest kept", "stored before digests"])
def test_erased_receipts_leave_their_shift_unchecked_and_their_signature_to_the_digest(digests: bool) -> None:
    lived = live(
        "KKM-ERASED", 12, Life(shifts=2, receipts_per_shift=(10, 10), buyer_share=0.5, return_share=0)
    )
    report = verify(export_bytes([(record_of(lived), lived.envelopes)], erased=True, digests=digests))
    assert report.exit_status == EXIT_PASS, failures(report)
    notes = [line.detail for line in report.lines if line.status == "NOTE"]
    # Only rows stored before the gateway kept the digest leave their signatures to the chain.
    assert any("withheld without their digest" in note for note in notes) is not digests, notes
    [z] = [line.detail for line in report.lines if line.check == "z-reports"]
    assert "not checkable" in z and "withheld (erased)" in z

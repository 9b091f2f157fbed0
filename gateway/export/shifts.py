"""Z reports against their shifts: the receipts and cash movements of each shift, summed as the Z must be.

A Z report (ShiftClose) must equal what its shift did (domain.md, proto/README.md): per operation the
count, the sum of totals, the payments per type (cash net of change) and the taxes per type and rate; the
receipt count and document range; deposits, withdrawals and the cash in the drawer (which starts at zero
when the shift opens: the float is a deposit). Its grand totals never reset: the previous Z's plus this
shift's. A shift is checked only when all of its events are in the export.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from gateway.wire import pb

_CASH_IN = (pb.SELL, pb.BUY_RETURN)  # cash comes into the drawer on these, leaves it on the others


def operation_name(value: int) -> str:
    """SELL, BUY_RETURN … (the number for a value this version does not know)."""
    known = pb.Operation.DESCRIPTOR.values_by_number.get(value)
    return known.name if known else str(value)


def payment_name(value: int) -> str:
    """CASH, CARD … (the number for a value this version does not know)."""
    known = pb.PaymentType.DESCRIPTOR.values_by_number.get(value)
    return known.name if known else str(value)


@dataclass
class OperationSums:
    """Count, sum, payments per type (cash net of change) and taxes per (type, rate) of one operation."""

    count: int = 0
    sum: int = 0
    payments: dict[int, int] = field(default_factory=dict)
    taxes: dict[tuple[int, int], int] = field(default_factory=dict)

    def add_receipt(self, receipt: pb.Receipt) -> None:
        """Count one receipt."""
        self.count += 1
        self.sum += receipt.total
        payments = self.payments
        for payment in receipt.payments[:]:
            payments[payment.type] = payments.get(payment.type, 0) + payment.sum
        if receipt.change:
            payments[pb.CASH] = payments.get(pb.CASH, 0) - receipt.change
        taxes = self.taxes
        for tax in receipt.taxes[:]:
            key = (tax.tax_type, tax.rate_bp)
            taxes[key] = taxes.get(key, 0) + tax.sum

    def add(self, other: OperationSums) -> OperationSums:
        """The sum of both."""
        out = OperationSums(
            self.count + other.count, self.sum + other.sum, dict(self.payments), dict(self.taxes)
        )
        for kind, amount in other.payments.items():
            out.payments[kind] = out.payments.get(kind, 0) + amount
        for key, amount in other.taxes.items():
            out.taxes[key] = out.taxes.get(key, 0) + amount
        return out

    @classmethod
    def of(cls, totals: pb.OperationTotals) -> OperationSums:
        """The figures a Z report states for one operation."""
        out = cls(totals.count, totals.sum)
        for payment in totals.payments:
            out.payments[payment.type] = out.payments.get(payment.type, 0) + payment.sum
        for tax in totals.taxes:
            key = (tax.tax_type, tax.rate_bp)
            out.taxes[key] = out.taxes.get(key, 0) + tax.sum
        return out


def by_operation(totals: Iterable[pb.OperationTotals]) -> dict[int, OperationSums]:
    """A Z report's per-operation figures."""
    out: dict[int, OperationSums] = {}
    for item in totals:
        out[item.operation] = out.get(item.operation, OperationSums()).add(OperationSums.of(item))
    return out


def differences(stated: dict[int, OperationSums], counted: dict[int, OperationSums], what: str) -> list[str]:
    """Where stated (a Z report) and counted (from receipts, or previous Z + shift) disagree, in words."""
    out: list[str] = []
    for operation in sorted(set(stated) | set(counted)):
        z, ours = stated.get(operation, OperationSums()), counted.get(operation, OperationSums())
        name = operation_name(operation)
        if z.count != ours.count:
            out.append(f"{name} count {z.count}, {what} {ours.count}")
        if z.sum != ours.sum:
            out.append(f"{name} sum {z.sum}, {what} {ours.sum}")
        for kind in sorted(set(z.payments) | set(ours.payments)):
            if z.payments.get(kind, 0) != ours.payments.get(kind, 0):
                out.append(
                    f"{name} {payment_name(kind)} payments {z.payments.get(kind, 0)}, "
                    f"{what} {ours.payments.get(kind, 0)}"
                )
        for key in sorted(set(z.taxes) | set(ours.taxes)):
            if z.taxes.get(key, 0) != ours.taxes.get(key, 0):
                stated_tax, counted_tax = z.taxes.get(key, 0), ours.taxes.get(key, 0)
                out.append(f"{name} tax {key[0]} at {key[1]} bp {stated_tax}, {what} {counted_tax}")
    return out


@dataclass
class Shift:
    """What one shift did, as far as the export shows it."""

    number: int
    incomplete: str = ""  # why not all of its events are here ("" when they are)
    operations: dict[int, OperationSums] = field(default_factory=dict)
    receipts: int = 0
    first_document: int = 0
    last_document: int = 0
    deposits: int = 0
    withdrawals: int = 0
    cash_net: int = 0
    gateway_attested: int = 0  # receipts known only from the gateway's redacted copy

    def add_receipt(self, receipt: pb.Receipt) -> None:
        """Count a receipt and move the drawer by its net cash."""
        operation = receipt.operation
        sums = self.operations.get(operation)
        if sums is None:
            sums = self.operations[operation] = OperationSums()
        sums.add_receipt(receipt)
        self.receipts += 1
        number = receipt.document_number
        if not self.first_document or number < self.first_document:
            self.first_document = number
        self.last_document = max(self.last_document, number)
        cash = -receipt.change
        for payment in receipt.payments[:]:
            if payment.type == pb.CASH:
                cash += payment.sum
        self.cash_net += cash if operation in _CASH_IN else -cash

    def against(self, close: pb.ShiftClose) -> list[str]:
        """Where the Z report and this shift disagree, in words (empty when they agree)."""
        out = differences(by_operation(close.operations), self.operations, "its receipts")
        pairs = (
            ("receipt_count", close.receipt_count, self.receipts, "receipts"),
            ("first_document_number", close.first_document_number, self.first_document, "first receipt"),
            ("last_document_number", close.last_document_number, self.last_document, "last receipt"),
            ("cash_deposits", close.cash_deposits, self.deposits, "deposits"),
            ("cash_withdrawals", close.cash_withdrawals, self.withdrawals, "withdrawals"),
            (
                "cash_in_drawer",
                close.cash_in_drawer,
                self.deposits - self.withdrawals + self.cash_net,
                "deposits - withdrawals + net cash of its receipts",
            ),
        )
        out += [
            f"{name} {stated}, {what} {counted}" for name, stated, counted, what in pairs if stated != counted
        ]
        return out


@dataclass
class ZResult:
    """The outcome of one Z report: problems (empty: it agrees), or why it could not be checked."""

    shift_number: int
    problems: list[str]
    not_checked: str = ""
    gateway_attested: int = 0


class ShiftLedger:
    """One device's shifts as its events stream past, in seq order."""

    def __init__(self, from_genesis: bool) -> None:
        # An export from seq 1 holds every event of every shift; a later start cuts the first one.
        self._from_genesis = from_genesis
        self._open: dict[int, Shift] = {}
        self._closed: dict[int, int] = {}  # shift number -> seq of its Z report
        self._last_grand: dict[int, OperationSums] | None = None
        self._lost_since_z = False

    def _shift(self, number: int) -> Shift:
        shift = self._open.get(number)
        if shift is None:
            why = "" if self._from_genesis else "it began before the first event of this export"
            shift = self._open[number] = Shift(number, incomplete=why)
        return shift

    def open(self, number: int) -> None:
        """A ShiftOpen: the shift starts here with nothing in it."""
        self._open[number] = Shift(number)

    def receipt(self, receipt: pb.Receipt, *, gateway_attested: bool = False) -> str:
        """Count a receipt in its shift; a problem in words if its shift was closed already, else ''."""
        number = receipt.shift_number
        if number in self._closed:
            return f"a receipt of shift {number} after its Z report (seq {self._closed[number]})"
        shift = self._shift(number)
        shift.add_receipt(receipt)
        shift.gateway_attested += gateway_attested
        return ""

    def movement(self, movement: pb.CashMovement) -> None:
        """Count a deposit or withdrawal in its shift."""
        shift = self._shift(movement.shift_number)
        if movement.kind == pb.CashMovement.DEPOSIT:
            shift.deposits += movement.sum
        elif movement.kind == pb.CashMovement.WITHDRAWAL:
            shift.withdrawals += movement.sum

    def unknown(self, why: str) -> None:
        """Events whose content the export does not hold: open shifts and the grand totals lose them."""
        self._lost_since_z = True
        for shift in self._open.values():
            shift.incomplete = shift.incomplete or why

    def close(self, seq: int, close: pb.ShiftClose) -> ZResult:
        """A Z report: compared with its shift, and its grand totals with the previous Z's."""
        number = close.shift_number
        shift = self._open.pop(number, None) or Shift(
            number, incomplete="" if self._from_genesis else "it began before the first event of this export"
        )
        self._closed[number] = seq
        result = ZResult(number, [], gateway_attested=shift.gateway_attested)
        if shift.incomplete:
            result.not_checked = shift.incomplete
        else:
            result.problems = shift.against(close)
        grand = by_operation(close.grand_totals)
        if self._last_grand is not None and not self._lost_since_z:
            expected = dict(self._last_grand)
            for operation, sums in by_operation(close.operations).items():
                expected[operation] = expected.get(operation, OperationSums()).add(sums)
            result.problems += [
                f"grand totals: {d}"
                for d in differences(grand, expected, "the previous Z report's plus this one's")
            ]
        self._last_grand, self._lost_since_z = grand, False
        return result

"""A register's own counters: per shift (reset by the Z-report) and grand totals (never reset)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.wire import pb

# Cash comes into the drawer on these operations and leaves it on the others.
_CASH_IN = (pb.SELL, pb.BUY_RETURN)


@dataclass
class OperationCounter:
    """Count, sum, payments per type (cash net of change) and taxes per (type, rate) of one operation."""

    count: int = 0
    sum: int = 0
    payments: dict[int, int] = field(default_factory=dict)
    taxes: dict[tuple[int, int], int] = field(default_factory=dict)

    def add(self, receipt: pb.Receipt) -> None:
        """Count one receipt."""
        self.count += 1
        self.sum += receipt.total
        for payment in receipt.payments:
            amount = payment.sum - (receipt.change if payment.type == pb.CASH else 0)
            self.payments[payment.type] = self.payments.get(payment.type, 0) + amount
        for tax in receipt.taxes:
            key = (tax.tax_type, tax.rate_bp)
            self.taxes[key] = self.taxes.get(key, 0) + tax.sum

    def to_proto(self, operation: int) -> pb.OperationTotals:
        """As Z-report totals (payments and taxes sorted, so equal counters give equal bytes)."""
        totals = pb.OperationTotals(operation=operation, count=self.count, sum=self.sum)  # type: ignore[arg-type]
        for kind in sorted(self.payments):
            totals.payments.add(type=kind, sum=self.payments[kind])
        for tax_type, rate in sorted(self.taxes):
            totals.taxes.add(tax_type=tax_type, rate_bp=rate, sum=self.taxes[(tax_type, rate)])
        return totals

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (for the register's persisted state)."""
        return {
            "count": self.count,
            "sum": self.sum,
            "payments": {str(k): v for k, v in self.payments.items()},
            "taxes": {f"{t}:{r}": v for (t, r), v in self.taxes.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OperationCounter:
        """Inverse of to_json."""
        taxes = {}
        for key, value in data["taxes"].items():
            tax_type, rate = key.split(":")
            taxes[(int(tax_type), int(rate))] = value
        payments = {int(k): v for k, v in data["payments"].items()}
        return cls(data["count"], data["sum"], payments, taxes)


@dataclass
class OperationCounters:
    """Counters per operation."""

    by_operation: dict[int, OperationCounter] = field(default_factory=dict)

    def add(self, receipt: pb.Receipt) -> None:
        """Count one receipt under its operation."""
        self.by_operation.setdefault(receipt.operation, OperationCounter()).add(receipt)

    def to_proto(self) -> list[pb.OperationTotals]:
        """Z-report totals, in operation order."""
        return [self.by_operation[op].to_proto(op) for op in sorted(self.by_operation)]

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {str(op): counter.to_json() for op, counter in self.by_operation.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OperationCounters:
        """Inverse of to_json."""
        return cls({int(op): OperationCounter.from_json(c) for op, c in data.items()})


@dataclass
class ShiftCounters:
    """What one shift did; the drawer starts at zero when the shift opens (the float is a deposit)."""

    operations: OperationCounters = field(default_factory=OperationCounters)
    receipt_count: int = 0
    cash_deposits: int = 0
    cash_withdrawals: int = 0
    cash_in_drawer: int = 0
    first_document_number: int = 0
    last_document_number: int = 0

    def add_receipt(self, receipt: pb.Receipt) -> None:
        """Count a receipt and move the drawer by its net cash."""
        self.operations.add(receipt)
        self.receipt_count += 1
        if not self.first_document_number:
            self.first_document_number = receipt.document_number
        self.last_document_number = receipt.document_number
        cash = sum(p.sum for p in receipt.payments if p.type == pb.CASH) - receipt.change
        self.cash_in_drawer += cash if receipt.operation in _CASH_IN else -cash

    def add_cash_movement(self, movement: pb.CashMovement) -> None:
        """Count a deposit or withdrawal."""
        if movement.kind == pb.CashMovement.DEPOSIT:
            self.cash_deposits += movement.sum
            self.cash_in_drawer += movement.sum
        else:
            self.cash_withdrawals += movement.sum
            self.cash_in_drawer -= movement.sum

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {
            "operations": self.operations.to_json(),
            "receipt_count": self.receipt_count,
            "cash_deposits": self.cash_deposits,
            "cash_withdrawals": self.cash_withdrawals,
            "cash_in_drawer": self.cash_in_drawer,
            "first_document_number": self.first_document_number,
            "last_document_number": self.last_document_number,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShiftCounters:
        """Inverse of to_json."""
        fields_ = dict(data)
        fields_["operations"] = OperationCounters.from_json(data["operations"])
        return cls(**fields_)

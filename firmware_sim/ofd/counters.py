"""An OFD register's own counters: what the open shift did per operation, payment, section, tax and cash
placement (reset by the Z report), the totals that never reset, and the X/Z reports built from them.

The register computes its Z report itself, online or offline, and the OFD gets it with CLOSE_SHIFT;
nothing here asks the server. Amounts are tiyn; keys are strings so the state is plain JSON.
"""

from __future__ import annotations

import copy
import zlib
from dataclasses import dataclass, field
from typing import Any

from firmware_sim.ofd.tickets import money, ofd_datetime, tiyn
from gateway.wire import ofd_pb2

Item = ofd_pb2.TicketRequest.Item
# Modifier items: (body field, counter, whether it cancels an earlier one).
_MODIFIERS = {
    Item.ITEM_TYPE_DISCOUNT: ("discount", "discount", False),
    Item.ITEM_TYPE_STORNO_DISCOUNT: ("storno_discount", "discount", True),
    Item.ITEM_TYPE_MARKUP: ("markup", "markup", False),
    Item.ITEM_TYPE_STORNO_MARKUP: ("storno_markup", "markup", True),
}
# Cash comes into the drawer on these operations and leaves it on the others.
_CASH_IN = (ofd_pb2.OPERATION_SELL, ofd_pb2.OPERATION_BUY_RETURN)


def _empty_shift() -> dict[str, Any]:
    return {"tickets": {}, "discounts": {}, "markups": {}, "sections": {}, "taxes": {}, "placements": {},
            "cash": 0, "start_sums": {}}


def _add(table: dict[str, list[int]], key: int | str, *amounts: int) -> None:
    row = table.setdefault(str(key), [0] * len(amounts))
    for i, amount in enumerate(amounts):
        row[i] += amount


@dataclass
class OfdCounters:
    """Shift and grand-total counters of one register."""

    shift_number: int = 0  # the last shift opened; counts through since registration
    shift_open: bool = False
    open_time_ms: int = 0
    shift: dict[str, Any] = field(default_factory=_empty_shift)
    grand: dict[str, Any] = field(default_factory=lambda: {"sums": {}, "tickets": {}, "placements": {}})

    def open_if_closed(self, now_ms: int) -> None:
        """A shift opens with its first document (there is no open-shift command since 2.0.2)."""
        if self.shift_open:
            return
        self.shift_number += 1
        self.shift_open = True
        self.open_time_ms = now_ms
        self.shift = _empty_shift()
        self.shift["start_sums"] = {op: amount for op, (amount,) in self.grand["sums"].items()}

    @property
    def cash(self) -> int:
        """Cash in the drawer now, tiyn (the drawer starts a shift at zero; the float is a deposit)."""
        cash: int = self.shift["cash"]
        return cash

    def add_ticket(self, ticket: ofd_pb2.TicketRequest, offline: bool) -> None:
        """Count a receipt."""
        op = ticket.operation
        shift = self.shift
        total = tiyn(ticket.amounts.total)
        row = shift["tickets"].setdefault(str(op), {"count": 0, "sum": 0, "offline": 0, "discount": 0,
                                                    "markup": 0, "change": 0, "payments": {}})
        row["count"] += 1
        row["sum"] += total
        row["offline"] += int(offline)
        row["change"] += tiyn(ticket.amounts.change)
        for payment in ticket.payments:
            _add(row["payments"], payment.type, tiyn(payment.sum), 1)
        cash = sum(tiyn(p.sum) for p in ticket.payments if p.type == ofd_pb2.PAYMENT_CASH)
        shift["cash"] += cash if op in _CASH_IN else -cash
        for item in ticket.items:
            self._add_item(op, item, row)
        for kind in ("discount", "markup"):  # receipt-level
            if ticket.amounts.HasField(kind):
                amount = tiyn(getattr(ticket.amounts, kind).sum)
                _add(shift[kind + "s"], op, 1, amount)
                row[kind] += amount
        for tax in ticket.taxes:  # receipt-level taxes: the whole total is their turnover
            _add(shift["taxes"].setdefault(f"{tax.tax_type}:{tax.percent}", {}), op, total, tiyn(tax.sum))
        _add(self.grand["sums"], op, total)
        _add(self.grand["tickets"], op, 1)

    def _add_item(self, op: int, item: ofd_pb2.TicketRequest.Item, row: dict[str, Any]) -> None:
        shift = self.shift
        line: Any
        if item.type in (Item.ITEM_TYPE_COMMODITY, Item.ITEM_TYPE_STORNO_COMMODITY):
            storno = item.type == Item.ITEM_TYPE_STORNO_COMMODITY
            line = item.storno_commodity if storno else item.commodity
            sign = -1 if storno else 1
            _add(shift["sections"].setdefault(line.section_code, {}), op, 0 if storno else 1,
                 sign * tiyn(line.sum))
        else:
            body, counter, storno = _MODIFIERS[item.type]
            line = getattr(item, body)
            amount = -tiyn(line.sum) if storno else tiyn(line.sum)
            _add(shift[counter + "s"], op, 0 if storno else 1, amount)
            row[counter] += amount
            sign = (-1 if counter == "discount" else 1) * (-1 if storno else 1)
        for tax in line.taxes:  # taxable turnover and tax: what the line adds to or takes off the receipt
            by_op = shift["taxes"].setdefault(f"{tax.tax_type}:{tax.percent}", {})
            _add(by_op, op, sign * tiyn(line.sum), sign * tiyn(tax.sum))

    def add_placement(self, operation: int, amount: int, offline: bool) -> None:
        """Count a cash deposit or withdrawal."""
        _add(self.shift["placements"], operation, 1, amount, int(offline))
        _add(self.grand["placements"], operation, 1)
        self.shift["cash"] += amount if operation == ofd_pb2.MONEY_PLACEMENT_DEPOSIT else -amount

    def report(self, now_ms: int, *, closing: bool = False) -> ofd_pb2.ZXReport:
        """The X report of the open shift, or (closing) its Z report; its checksum is the CRC32 of the
        report's own bytes without it (the protocol names no algorithm)."""
        shift, grand = self.shift, self.grand
        report = ofd_pb2.ZXReport(date_time=ofd_datetime(now_ms), shift_number=self.shift_number,
                                  cash_sum=money(max(0, shift["cash"])))
        for op, row in sorted(shift["tickets"].items()):
            report.operations.add(operation=int(op), count=row["count"], sum=money(row["sum"]))
            report.total_result.add(operation=int(op), count=row["count"], sum=money(row["sum"]))
            ticket_op = report.ticket_operations.add(
                operation=int(op), tickets_total_count=grand["tickets"][op][0], tickets_count=row["count"],
                tickets_sum=money(row["sum"]), offline_count=row["offline"],
                discount_sum=money(row["discount"]), markup_sum=money(row["markup"]),
                change_sum=money(row["change"]),
            )
            for kind, (amount, count) in sorted(row["payments"].items()):
                ticket_op.payments.add(payment=int(kind), sum=money(amount), count=count)
        for name, target in (("discounts", report.discounts), ("markups", report.markups)):
            for op, (count, amount) in sorted(shift[name].items()):
                target.add(operation=int(op), count=count, sum=money(amount))
        for code, by_op in sorted(shift["sections"].items()):
            section = report.sections.add(section_code=code)
            for op, (count, amount) in sorted(by_op.items()):
                section.operations.add(operation=int(op), count=count, sum=money(amount))
        for key, by_op in sorted(shift["taxes"].items()):
            tax_type, percent = (int(part) for part in key.split(":"))
            tax = report.taxes.add(tax_type=tax_type, percent=percent)
            for op, (turnover, amount) in sorted(by_op.items()):
                tax.operations.add(operation=int(op), turnover=money(turnover), sum=money(amount),
                                   turnover_without_tax=money(turnover - amount))
        for op, (count, amount, offline) in sorted(shift["placements"].items()):
            report.money_placements.add(operation=int(op), operations_total_count=grand["placements"][op][0],
                                        operations_count=count, operations_sum=money(amount),
                                        offline_count=offline)
        for op, amount in sorted(shift["start_sums"].items()):
            report.start_shift_non_nullable_sums.add(operation=int(op), sum=money(amount))
        for op, (amount,) in sorted(grand["sums"].items()):
            report.non_nullable_sums.add(operation=int(op), sum=money(amount))
        revenue = sum(row["sum"] * (1 if int(op) in (ofd_pb2.OPERATION_SELL, ofd_pb2.OPERATION_BUY_RETURN)
                                    else -1) for op, row in shift["tickets"].items())
        report.revenue.CopyFrom(ofd_pb2.ZXReport.Revenue(sum=money(abs(revenue)), is_negative=revenue < 0))
        if self.open_time_ms:
            report.open_shift_time.CopyFrom(ofd_datetime(self.open_time_ms))
        if closing:
            report.close_shift_time.CopyFrom(ofd_datetime(now_ms))
        report.checksum = f"{zlib.crc32(report.SerializeToString(deterministic=True)):08X}"
        return report

    def close(self, now_ms: int) -> ofd_pb2.ZXReport:
        """The Z report; the shift is closed and its counters start again with the next document."""
        report = self.report(now_ms, closing=True)
        self.shift_open = False
        return report

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (the register's persisted state)."""
        return {"shift_number": self.shift_number, "shift_open": self.shift_open,
                "open_time_ms": self.open_time_ms, "shift": copy.deepcopy(self.shift),
                "grand": copy.deepcopy(self.grand)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OfdCounters:
        """Inverse of to_json."""
        return cls(**copy.deepcopy(data))

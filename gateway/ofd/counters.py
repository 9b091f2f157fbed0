"""An OFD register's counters as the gateway keeps them: its shifts, receipts, cash, non-nullable sums.

They answer INFO and REPORT (X of the open shift, or the last Z) and are what a register's own Z report is
compared with. A Ledger works on a copy of the register's state; the copy becomes the register's state only
once the journal holds the exchange that carries it (gateway/ofd/exchange.py), so a refused or failed
exchange counts nothing. Numbers are OFD's (operations, payment types, money placements: units.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from google.protobuf.internal.containers import RepeatedCompositeFieldContainer

from gateway.ofd import units
from gateway.ofd.documents import finding
from gateway.wire import ofd_pb2, pb

SHIFT_LIMIT_MS = 24 * 3600 * 1000  # a shift lasts at most 24 h (OPEN_SHIFT_TIMEOUT_EXPIRED after that)
# The state travels with every exchange: a shift of more cash movements than this lists only the first.
MAX_OTHER_DOCUMENTS = 1000
# Which way each operation moves cash in the drawer: a sale and a purchase's return bring it in.
_CASH_SIGN: dict[int, int] = {ofd_pb2.OPERATION_SELL: 1, ofd_pb2.OPERATION_BUY_RETURN: 1,
              ofd_pb2.OPERATION_SELL_RETURN: -1, ofd_pb2.OPERATION_BUY: -1}
_OPERATION_NAMES = {value.number: value.name.removeprefix("OPERATION_")
                    for value in ofd_pb2.OperationType.DESCRIPTOR.values}


K = TypeVar("K", pb.OfdOperationCounters, pb.OfdCashCounter, pb.OfdTotal)


def entry(container: RepeatedCompositeFieldContainer[K], operation: int) -> K:
    """The container's entry for an operation, added (zero) if missing."""
    for item in container:
        if item.operation == operation:
            return item
    return container.add(operation=operation)


def _payment(
    container: RepeatedCompositeFieldContainer[pb.OfdPaymentCounter], kind: int
) -> pb.OfdPaymentCounter:
    for item in container:
        if item.type == kind:
            return item
    return container.add(type=kind)


@dataclass
class Opening:
    """Which shift a document goes into; whether it opened it (a ShiftOpen event), and findings on that."""

    shift_number: int
    opened: bool
    findings: list[pb.Finding] = field(default_factory=list)


class Ledger:
    """Counts one register's documents into (a copy of) its state."""

    def __init__(self, state: pb.OfdRegisterState) -> None:
        self.state = state

    @property
    def shift(self) -> pb.OfdShiftCounters:
        """The open shift, or the last closed one."""
        return self.state.shift

    def expired(self, claimed: int, time_ms: int) -> bool:
        """Would an online document at time_ms go into a shift open longer than 24 h (answer 11)?"""
        state = self.state
        if not state.shift_open or claimed not in (0, state.shift.shift_number):
            return False
        return time_ms - state.shift.opened_ms > SHIFT_LIMIT_MS

    def shift_for(self, claimed: int, time_ms: int) -> Opening:
        """The shift a document goes into: a shift opens implicitly with its first document.

        claimed: the document's fr_shift_number (0: absent, then the open shift or the next one).
        """
        state = self.state
        current = state.shift.shift_number
        if state.shift_open and claimed in (0, current):
            return Opening(current, False)
        if state.shift_open and claimed < current:
            detail = f"a document of shift {claimed} after shift {current} opened; counted in {current}"
            return Opening(current, False, [finding("shift_out_of_order", detail)])
        findings = []
        if state.shift_open:  # claimed > current: the register went on to a new shift without a Z
            findings.append(finding("shift_not_closed", f"shift {current} was never closed (no Z report)"))
        number = claimed or current + 1
        start = [pb.OfdTotal(operation=t.operation, count=t.count, sum=t.sum) for t in state.ticket_totals]
        state.shift.CopyFrom(pb.OfdShiftCounters(shift_number=number, opened_ms=time_ms, start_totals=start))
        state.shift_open = True
        return Opening(number, True, findings)

    def next_document(self, printed: int, *, receipt: bool) -> int:
        """The document number of the register's next document: the one it printed if it says, else the
        gateway's own count; and the shift's document counters."""
        state = self.state
        if printed:
            state.printed_document_number = printed
        number = printed or min(state.document_number + 1, units.UINT64_MAX)
        state.document_number = max(state.document_number, number)
        shift = state.shift
        shift.documents = units.count_plus(shift.documents, 1)
        # A register numbers its cash movements and Z reports with its receipts: the Z report's range is
        # its receipts' (as our own registers send it), the other numbers are named so none looks missing.
        if not receipt:
            if len(shift.other_document_numbers) < MAX_OTHER_DOCUMENTS:
                shift.other_document_numbers.append(number)
        else:
            if not shift.first_document_number:
                shift.first_document_number = number
            shift.last_document_number = number
        return number

    def other_documents_within(self) -> list[int]:
        """The shift's numbers of documents that are not receipts, between its first and last receipt's."""
        shift = self.shift
        first, last = shift.first_document_number, shift.last_document_number
        return sorted({n for n in shift.other_document_numbers if first <= n <= last})

    def count_receipt(self, receipt: pb.Receipt, ofd_ticket: ofd_pb2.TicketRequest, fiscal_sign: str) -> None:
        """Count an accepted receipt (its OFD form for the payment counters, our form for the rest)."""
        operation = ofd_ticket.operation
        shift = self.state.shift  # each attribute read of a upb message makes a new object
        counter = entry(shift.operations, operation)
        counter.count = units.count_plus(counter.count, 1)
        counter.sum = units.plus(counter.sum, receipt.total)
        counter.offline_count = units.count_plus(counter.offline_count, int(receipt.offline))
        # Each line's fields read once (every upb read makes an object); each counter read once and
        # written once, its additions saturating one by one in the same order as before.
        receipt_lines = receipt.lines[:]
        lines = [(line.storno, line.sum, line.discount, line.markup, line.section_code)
                 for line in receipt_lines]
        discounts = receipt.discount.sum + sum(-d if storno else d for storno, _, d, _, _ in lines)
        markups = receipt.markup.sum + sum(-m if storno else m for storno, _, _, m, _ in lines)
        counter.discounts = units.plus(counter.discounts, discounts)
        counter.discount_count = units.count_plus(counter.discount_count, int(discounts != 0))
        counter.markups = units.plus(counter.markups, markups)
        counter.markup_count = units.count_plus(counter.markup_count, int(markups != 0))
        counter.change = units.plus(counter.change, receipt.change)
        for payment in ofd_ticket.payments:
            paid = _payment(counter.payments, payment.type)
            paid.sum = units.plus(paid.sum, units.tiyn(payment.sum))
            paid.count = units.count_plus(paid.count, 1)
        lines_sum, lines_count = counter.lines_sum, counter.lines_count
        # section code -> [its counter, count, sum]: the shift's sections scanned once, the counters found
        # (or added, in the lines' order) once, read once, written once.
        sections: dict[str, list[Any]] = {}
        known: dict[str, pb.OfdSectionCounter] | None = None
        for storno, line_sum, discount, markup, code in lines:
            before_modifiers = line_sum + discount - markup
            lines_sum = units.plus(lines_sum, -before_modifiers if storno else before_modifiers)
            lines_count = units.count_plus(lines_count, 0 if storno else 1)
            section = sections.get(code)
            if section is None:
                if known is None:
                    known = {}
                    for s in shift.sections[:]:
                        if s.operation == operation:
                            known.setdefault(s.section_code, s)
                found = known.get(code)
                if found is None:
                    found = shift.sections.add(section_code=code, operation=operation)
                section = sections[code] = [found, found.count, found.sum]
            section[1] = units.count_plus(section[1], 0 if storno else 1)
            section[2] = units.plus(section[2], -line_sum if storno else line_sum)
        counter.lines_sum, counter.lines_count = lines_sum, lines_count
        for found, count, amount in sections.values():
            found.count, found.sum = count, amount
        self._count_taxes(receipt, receipt_lines, shift, operation)
        cash = units.plus(0, sum(p.sum for p in receipt.payments if p.type == pb.CASH) - receipt.change)
        shift.cash_sum = units.plus(shift.cash_sum, _CASH_SIGN.get(operation, 0) * cash)
        total = entry(self.state.ticket_totals, operation)
        total.count = units.count_plus(total.count, 1)
        total.sum = units.plus(total.sum, receipt.total)
        self.state.last_ticket.CopyFrom(pb.OfdLastTicket(
            shift_number=receipt.shift_number, document_number=receipt.document_number,
            fiscal_sign=fiscal_sign, operation=operation, total=receipt.total, cash=cash,
            offline=receipt.offline,
            payments=[pb.OfdPaymentCounter(type=p.type, sum=units.tiyn(p.sum), count=1)
                      for p in ofd_ticket.payments],
        ))
        self.state.shift_document_number = receipt.shift_document_number

    def _count_taxes(self, receipt: pb.Receipt, lines: list[pb.ReceiptLine], shift: pb.OfdShiftCounters,
                     operation: int) -> None:
        taxed: list[tuple[pb.Tax, int, int]] = []  # (tax, sign, turnover)
        if receipt.taxes:
            taxed = [(tax, 1, receipt.total) for tax in receipt.taxes]
        else:
            for line in lines:
                sign = -1 if line.storno else 1
                taxed += [(tax, sign, line.sum) for tax in line.taxes]
            taxed += [(tax, -1, receipt.discount.sum) for tax in receipt.discount.taxes]
            taxed += [(tax, 1, receipt.markup.sum) for tax in receipt.markup.taxes]
        # Per counter (type, percent): found once (the shift's taxes scanned once), its turnover and sum read
        # once, added to in the receipt's order, written once. Bound taxes: each (type, rate) with the
        # taxation it was first seen with.
        counters: dict[tuple[int, int], list[Any]] = {}
        known: dict[tuple[int, int], pb.OfdTaxCounter] | None = None
        bound: dict[tuple[int, int], int] = {}
        for tax, sign, turnover in taxed:
            tax_type, rate_bp = tax.tax_type, tax.rate_bp
            key = (tax_type, units.percent(rate_bp))
            values = counters.get(key)
            if values is None:
                if known is None:
                    known = {}
                    for t in shift.taxes[:]:
                        if t.operation == operation:
                            known.setdefault((t.tax_type, t.percent), t)
                counter = known.get(key)
                if counter is None:
                    counter = shift.taxes.add(tax_type=key[0], percent=key[1], operation=operation)
                values = counters[key] = [counter, counter.turnover, counter.sum]
            values[1] = units.plus(values[1], sign * turnover)
            values[2] = units.plus(values[2], sign * tax.sum)
            bound.setdefault((tax_type, rate_bp), tax.taxation_type)
        for counter, turnover, amount in counters.values():
            counter.turnover, counter.sum = turnover, amount
        had = self.state.bound_taxes
        if bound and list(bound.items()) != [((t.tax_type, t.rate_bp), t.taxation_type) for t in had]:
            del had[:]
            had.extend(pb.Tax(tax_type=t, rate_bp=r, taxation_type=x) for (t, r), x in bound.items())

    def count_cash(self, placement: ofd_pb2.MoneyPlacementRequest, offline: bool) -> list[pb.Finding]:
        """Count a deposit or withdrawal; taking out more than the drawer holds is a finding (never 14)."""
        amount = units.tiyn(placement.sum)
        counter = entry(self.shift.cash, placement.operation)
        counter.count = units.count_plus(counter.count, 1)
        counter.sum = units.plus(counter.sum, amount)
        counter.offline_count = units.count_plus(counter.offline_count, int(offline))
        total = entry(self.state.cash_totals, placement.operation)
        total.count = units.count_plus(total.count, 1)
        total.sum = units.plus(total.sum, amount)
        deposit = placement.operation == ofd_pb2.MONEY_PLACEMENT_DEPOSIT
        before = self.shift.cash_sum
        self.shift.cash_sum = units.plus(self.shift.cash_sum, amount if deposit else -amount)
        if not deposit and amount > before:
            return [finding("cash_short", f"withdrawal of {amount} from a drawer holding {before}")]
        return []

    def cancel_last(self) -> pb.ReceiptCancel | None:
        """Annul the last receipt (2.0.2's CANCEL_TICKET): its counts reversed, counted as annulled; None
        when there is no receipt to annul (already annulled, or none this shift)."""
        last = self.state.last_ticket
        if not last.document_number or last.annulled or last.shift_number != self.shift.shift_number:
            return None
        counter = entry(self.shift.operations, last.operation)
        counter.count = units.count_plus(counter.count, -1)
        counter.sum = units.plus(counter.sum, -last.total)
        for payment in last.payments:
            paid = _payment(counter.payments, payment.type)
            paid.sum = units.plus(paid.sum, -payment.sum)
            paid.count = units.count_plus(paid.count, -payment.count)
        moved = _CASH_SIGN.get(last.operation, 0) * last.cash
        self.shift.cash_sum = units.plus(self.shift.cash_sum, -moved)
        total = entry(self.state.ticket_totals, last.operation)
        total.count = units.count_plus(total.count, -1)
        total.sum = units.plus(total.sum, -last.total)
        annulled = entry(self.shift.annulled, last.operation)
        annulled.count = units.count_plus(annulled.count, 1)
        annulled.sum = units.plus(annulled.sum, last.total)
        last.annulled = True
        return pb.ReceiptCancel(
            shift_number=last.shift_number, document_number=last.document_number,
            fiscal_sign=last.fiscal_sign, operation=units.operation(last.operation), total=last.total,
        )

    def close(self, time_ms: int) -> None:
        """Close the open shift (its counters stay: INFO answers them as the last Z)."""
        self.shift.closed_ms = time_ms
        self.state.shift_open = False

    def as_shift_close(self) -> pb.ShiftClose:
        """The shift's counters as our ShiftClose (when the register sent no Z report of its own)."""
        shift = self.shift
        taxes: dict[int, list[pb.Tax]] = {}
        for tax in shift.taxes:
            taxes.setdefault(tax.operation, []).append(
                pb.Tax(tax_type=tax.tax_type, rate_bp=units.rate_bp(tax.percent), sum=tax.sum))
        close = pb.ShiftClose(shift_number=shift.shift_number, cash_in_drawer=shift.cash_sum)
        for c in shift.operations:
            close.operations.add(
                operation=units.operation(c.operation), count=c.count, sum=c.sum,
                payments=[pb.Payment(type=units.payment_type(p.type), sum=p.sum) for p in c.payments],
                taxes=taxes.get(c.operation, []), discounts=c.discounts, markups=c.markups, change=c.change,
                offline_count=c.offline_count,
            )
            close.receipt_count = units.count_plus(close.receipt_count, c.count)
        for cash in shift.cash:
            if cash.operation == ofd_pb2.MONEY_PLACEMENT_DEPOSIT:
                close.cash_deposits = units.plus(close.cash_deposits, cash.sum)
            else:
                close.cash_withdrawals = units.plus(close.cash_withdrawals, cash.sum)
        for total in self.state.ticket_totals:
            close.grand_totals.add(
                operation=units.operation(total.operation), count=total.count, sum=total.sum
            )
        close.opened_ms = shift.opened_ms
        return close

    def z_differences(self, z: ofd_pb2.ZXReport) -> list[str]:
        """Where the register's Z report and the gateway's counters of the shift disagree."""
        differences = []
        ours: dict[int, tuple[int, int]] = {c.operation: (c.count, c.sum) for c in self.shift.operations}
        theirs: dict[int, tuple[int, int]] = {
            t.operation: (t.tickets_count, units.tiyn(t.tickets_sum)) for t in z.ticket_operations
        }
        for operation in sorted(set(ours) | set(theirs)):
            if ours.get(operation, (0, 0)) != theirs.get(operation, (0, 0)):
                count, total = theirs.get(operation, (0, 0))
                our_count, our_total = ours.get(operation, (0, 0))
                differences.append(f"{_OPERATION_NAMES.get(operation, operation)}: register {count} receipts "
                                   f"{total}, gateway {our_count} receipts {our_total}")
        if units.tiyn(z.cash_sum) != self.shift.cash_sum:
            differences.append(f"cash: register {units.tiyn(z.cash_sum)}, gateway {self.shift.cash_sum}")
        ours_cash: dict[int, int] = {c.operation: c.sum for c in self.shift.cash}
        for placement in z.money_placements:
            if units.tiyn(placement.operations_sum) != ours_cash.get(placement.operation, 0):
                differences.append(f"money placement {placement.operation}: register "
                                   f"{units.tiyn(placement.operations_sum)}, gateway "
                                   f"{ours_cash.get(placement.operation, 0)}")
        return differences


def totals(items: Iterable[pb.OfdTotal]) -> dict[int, tuple[int, int]]:
    """operation -> (count, sum)."""
    return {item.operation: (item.count, item.sum) for item in items}

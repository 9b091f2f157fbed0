"""Validation: receipt and Z-report arithmetic as findings; authentic content is never rejected.

Every problem is a `pb.Finding` with a stable `kind` token on an event that is still accepted. A time
too far ahead of the gateway's clock (clock_skew) depends on a setting, so it is found at ingest and
journalled; the others follow from the signed event and its receive time alone, so they are found where
its rows are built, off the ingest process (content_findings, called by gateway/storage/rows.py): the ack
does not depend on them, and the journal keeps what does.

    line_sum_mismatch   line sum != round_half_up(price * quantity / 1000) - discount + markup
    tax_mismatch        line tax != round_half_up(sum * rate / (1 + rate)), more than 1 minor unit off
    tax_total_mismatch  receipt tax totals != sum of the line taxes (per tax type and rate; storno lines
                        subtracted, the receipt discount's taxes subtracted, its markup's added)
    total_mismatch      receipt total != sum of line sums (storno lines subtracted) - discount + markup
    storno_unmatched    storno lines cancel more than the receipt's lines of their name hold (in sum)
    payment_mismatch    payments - change != total
    change_exceeds_cash change given is more than the cash paid
    negative_amount     a negative price, discount, markup, payment or change
    bad_quantity        a line quantity of zero or less
    empty_receipt       a receipt without lines
    unknown_operation   operation unspecified
    missing_parent      a return without the sale it refers to (its document number or fiscal sign)
    shift_count_mismatch        Z-report receipt_count != sum of per-operation counts
    shift_payment_mismatch      an operation's payments do not add up to its sum
    shift_document_range_mismatch  document range cannot hold receipt_count receipts
    bad_amount          a cash movement of zero or less, or of unspecified kind
    bad_time            an event time of zero or less
    late_upload         event time more than 72 h before it reached the gateway (offline limit)
    clock_skew          event time more than limits.max_future_skew_s ahead of the gateway (at ingest)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from gateway.security.receipt_checks import security_findings
from gateway.settings import Limits
from gateway.wire import pb

OFFLINE_LIMIT_MS = 72 * 3600 * 1000
TAX_TOLERANCE = 1
_RETURNS = (pb.SELL_RETURN, pb.BUY_RETURN)


def round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to the nearest integer, halves up; integers only (denominator > 0)."""
    return (2 * numerator + denominator) // (2 * denominator)


def expected_line_sum(line: pb.ReceiptLine) -> int:
    """A line's due sum: price * quantity (thousandths) rounded half up, less discount, plus markup."""
    return round_half_up(line.price * line.quantity, 1000) - line.discount + line.markup


def expected_included_tax(amount: int, rate_bp: int) -> int:
    """The tax included in amount at rate_bp basis points (VAT is included in the price)."""
    return round_half_up(amount * rate_bp, 10_000 + rate_bp)


def event_time_findings(event: pb.Event, received_ms: int, limits: Limits) -> list[pb.Finding]:
    """clock_skew when the event claims a time beyond the allowed skew ahead of the gateway's clock.

    A register whose clock runs fast still sold what it signed: the event is accepted and its time kept as
    signed (the receive time is stored beside it).
    """
    skew_ms = event.time_ms - received_ms
    if skew_ms <= limits.max_future_skew_s * 1000:
        return []
    detail = (f"event time is {skew_ms // 1000} s ahead of the gateway, "
              f"the allowed skew is {limits.max_future_skew_s} s")
    return [_finding("clock_skew", detail)]


def _finding(kind: str, detail: str, line: int = 0) -> pb.Finding:
    return pb.Finding(kind=kind, line=line, detail=detail)


def _line_findings(number: int, line: pb.ReceiptLine) -> Iterable[pb.Finding]:
    if line.quantity <= 0:
        yield _finding("bad_quantity", f"quantity {line.quantity} (thousandths) is not positive", number)
    if min(line.price, line.discount, line.markup) < 0:
        yield _finding("negative_amount", "price, discount and markup must not be negative", number)
    expected = expected_line_sum(line)
    if line.sum != expected:
        yield _finding("line_sum_mismatch", f"line sum {line.sum}, computed {expected}", number)
    for tax in line.taxes:
        if tax.added:  # a tax on top of the sum: the sum alone does not tell it
            continue
        tax_expected = expected_included_tax(line.sum, tax.rate_bp)
        if abs(tax.sum - tax_expected) > TAX_TOLERANCE:
            yield _finding(
                "tax_mismatch",
                f"tax {tax.tax_type} at {tax.rate_bp} bp is {tax.sum}, computed {tax_expected}",
                number,
            )


def _receipt_is_clean(receipt: pb.Receipt) -> bool:
    """True only if _receipt_findings would report nothing: one pass, fields read once (the usual case).

    False sends the receipt through the full checks, which say what is wrong; so this needs only to be
    sound (never True for a receipt with a finding), and it is: it checks the same conditions.
    """
    operation = receipt.operation
    if operation == pb.OPERATION_UNSPECIFIED:
        return False
    # Receipt-level discounts and markups (OFD registers) go through the full checks.
    if receipt.HasField("discount") or receipt.HasField("markup"):
        return False
    # Every repeated field as a list ([:]): upb's have no __iter__, so a plain loop indexes until a
    # formatted IndexError ends it, ~2,000 instructions a loop and over a tenth of this function.
    lines = receipt.lines[:]
    if not lines:
        return False
    lines_total = 0
    from_lines: dict[tuple[int, int], list[int]] = {}
    for line in lines:
        quantity, price, discount, markup, line_sum = (
            line.quantity, line.price, line.discount, line.markup, line.sum
        )
        if quantity <= 0 or price < 0 or discount < 0 or markup < 0 or line.storno:
            return False
        if line_sum != (2 * price * quantity + 1000) // 2000 - discount + markup:
            return False
        for tax in line.taxes[:]:
            if tax.added:
                return False
            rate = tax.rate_bp
            tax_sum = tax.sum
            denominator = 10_000 + rate
            if abs(tax_sum - (2 * line_sum * rate + denominator) // (2 * denominator)) > TAX_TOLERANCE:
                return False
            key = (tax.tax_type, rate)
            found = from_lines.get(key)
            if found is None:
                from_lines[key] = [tax_sum, 1]
            else:
                found[0] += tax_sum
                found[1] += 1
        lines_total += line_sum
    total, change = receipt.total, receipt.change
    if total != lines_total or change < 0:
        return False
    paid = cash = 0
    for payment in receipt.payments[:]:
        amount = payment.sum
        if amount < 0:
            return False
        paid += amount
        if payment.type == pb.CASH:
            cash += amount
    if paid - change != total or change > cash:
        return False
    if receipt.taxes:
        stated: dict[tuple[int, int], int] = {}
        for tax in receipt.taxes[:]:
            key = (tax.tax_type, tax.rate_bp)
            stated[key] = stated.get(key, 0) + tax.sum
        for key in set(from_lines) | set(stated):
            line_tax, taxed = from_lines.get(key, (0, 0))
            if abs(stated.get(key, 0) - line_tax) > max(TAX_TOLERANCE, taxed):
                return False
    return operation not in _RETURNS or _names_its_sale(receipt)


def _names_its_sale(receipt: pb.Receipt) -> bool:
    """A return names the sale it returns: by document number (our contract) or fiscal sign (OFD)."""
    return receipt.HasField("parent") and bool(receipt.parent.document_number or receipt.parent.fiscal_sign)


def signed_sum(line: pb.ReceiptLine) -> int:
    """What a line adds to the receipt's total: its sum, or minus its sum for a storno line."""
    return -line.sum if line.storno else line.sum


def expected_total(receipt: pb.Receipt) -> int:
    """The receipt's due total: its lines' sums (storno lines subtracted) - discount + markup."""
    return sum(signed_sum(line) for line in receipt.lines) - receipt.discount.sum + receipt.markup.sum


def _receipt_findings(receipt: pb.Receipt) -> Iterable[pb.Finding]:
    if receipt.operation == pb.OPERATION_UNSPECIFIED:
        yield _finding("unknown_operation", "the receipt's operation is unspecified")
    if not receipt.lines:
        yield _finding("empty_receipt", "the receipt has no lines")
    for number, line in enumerate(receipt.lines, start=1):
        yield from _line_findings(number, line)
    if min(receipt.discount.sum, receipt.markup.sum) < 0:
        yield _finding("negative_amount", "the receipt's discount and markup must not be negative")
    due = expected_total(receipt)
    if receipt.total != due:
        adjusted = receipt.discount.sum or receipt.markup.sum
        due_as = "sum of lines - discount + markup" if adjusted else "sum of lines"
        yield _finding("total_mismatch", f"total {receipt.total}, {due_as} {due}")
    yield from _storno_findings(receipt)
    paid = sum(payment.sum for payment in receipt.payments)
    if paid - receipt.change != receipt.total:
        yield _finding(
            "payment_mismatch", f"payments {paid} - change {receipt.change} != total {receipt.total}"
        )
    if receipt.change < 0 or any(payment.sum < 0 for payment in receipt.payments):
        yield _finding("negative_amount", "payments and change must not be negative")
    cash = sum(payment.sum for payment in receipt.payments if payment.type == pb.CASH)
    if receipt.change > cash:
        yield _finding("change_exceeds_cash", f"change {receipt.change} exceeds the cash paid {cash}")
    if receipt.taxes:
        yield from _tax_total_findings(receipt)
    if receipt.operation in _RETURNS and not _names_its_sale(receipt):
        yield _finding("missing_parent", "a return must name the sale it refers to (parent)")


def _storno_findings(receipt: pb.Receipt) -> Iterable[pb.Finding]:
    """Storno lines must cancel no more than the receipt's other lines of the same name hold (in sum)."""
    held: dict[str, int] = defaultdict(int)
    for line in receipt.lines:
        if not line.storno:
            held[line.name] += line.sum
    for number, line in enumerate(receipt.lines, start=1):
        if not line.storno:
            continue
        if line.sum > held[line.name]:
            yield _finding(
                "storno_unmatched",
                f"storno of {line.sum}: the receipt's lines of that name hold {max(held[line.name], 0)}",
                number,
            )
        held[line.name] -= line.sum


def _tax_total_findings(receipt: pb.Receipt) -> Iterable[pb.Finding]:
    from_lines: dict[tuple[int, int], int] = defaultdict(int)
    taxed_lines: dict[tuple[int, int], int] = defaultdict(int)
    for line in receipt.lines:
        for tax in line.taxes:
            from_lines[(tax.tax_type, tax.rate_bp)] += -tax.sum if line.storno else tax.sum
            taxed_lines[(tax.tax_type, tax.rate_bp)] += 1
    for adjustment, sign in ((receipt.discount, -1), (receipt.markup, 1)):
        for tax in adjustment.taxes:
            from_lines[(tax.tax_type, tax.rate_bp)] += sign * tax.sum
            taxed_lines[(tax.tax_type, tax.rate_bp)] += 1
    if not from_lines:
        return  # taxes stated on the receipt only (OFD forbids them on both): nothing to add them up from
    stated: dict[tuple[int, int], int] = defaultdict(int)
    for tax in receipt.taxes:
        stated[(tax.tax_type, tax.rate_bp)] += tax.sum
    for key in sorted(set(from_lines) | set(stated)):
        # The register may compute the total tax on the receipt sum rather than add line taxes:
        # each line's rounding can then differ by one minor unit.
        if abs(stated[key] - from_lines[key]) > max(TAX_TOLERANCE, taxed_lines[key]):
            yield _finding(
                "tax_total_mismatch",
                f"tax {key[0]} at {key[1]} bp: receipt says {stated[key]}, lines add up to {from_lines[key]}",
            )


def _shift_close_findings(close: pb.ShiftClose) -> Iterable[pb.Finding]:
    counted = sum(operation.count for operation in close.operations)
    if close.receipt_count != counted:
        yield _finding(
            "shift_count_mismatch",
            f"receipt_count {close.receipt_count}, per-operation counts add up to {counted}",
        )
    for operation in close.operations:
        paid = sum(payment.sum for payment in operation.payments)
        if operation.payments and paid != operation.sum:
            # An unknown (newer) operation value has no name; Operation.Name would raise on it.
            known = pb.Operation.DESCRIPTOR.values_by_number.get(operation.operation)
            yield _finding(
                "shift_payment_mismatch",
                f"operation {known.name if known else operation.operation}: payments {paid}, "
                f"sum {operation.sum}",
            )
    first, last = close.first_document_number, close.last_document_number
    if (first or last) and (last < first or last - first + 1 < close.receipt_count):
        yield _finding(
            "shift_document_range_mismatch",
            f"documents {first}..{last} cannot hold {close.receipt_count} receipts",
        )


def _cash_movement_findings(movement: pb.CashMovement) -> Iterable[pb.Finding]:
    if movement.sum <= 0 or movement.kind == pb.CashMovement.KIND_UNSPECIFIED:
        yield _finding("bad_amount", f"cash movement of kind {movement.kind} and sum {movement.sum}")


def arithmetic_findings(event: pb.Event) -> list[pb.Finding]:
    """The arithmetic problems of an event's own content: a receipt, a Z-report, a cash movement."""
    kind = event.WhichOneof("body")
    if kind == "receipt":
        receipt = event.receipt
        return [] if _receipt_is_clean(receipt) else list(_receipt_findings(receipt))
    if kind == "shift_close":
        return list(_shift_close_findings(event.shift_close))
    if kind == "cash_movement":
        return list(_cash_movement_findings(event.cash_movement))
    return []


def validate_event(event: pb.Event, received_ms: int) -> list[pb.Finding]:
    """Every arithmetic and time problem of an authentic event, as findings (empty when all adds up)."""
    findings = arithmetic_findings(event)
    if event.time_ms <= 0:
        findings.append(_finding("bad_time", f"event time {event.time_ms} ms is not a real time"))
    elif received_ms - event.time_ms > OFFLINE_LIMIT_MS:
        hours = (received_ms - event.time_ms) // 3_600_000
        findings.append(
            _finding("late_upload", f"received {hours} h after the event, the offline limit is 72 h")
        )
    return findings


def content_findings(event: pb.Event, received_ms: int) -> list[pb.Finding]:
    """Every finding an accepted event's own content gives: arithmetic, time, buyer consent, AI labels.

    Pure: the same event and receive time give the same findings, wherever and whenever they are found.
    """
    return validate_event(event, received_ms) + security_findings(event)

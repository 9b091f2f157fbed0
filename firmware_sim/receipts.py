"""Receipt arithmetic and the building of realistic receipts (integer minor units, exact rounding)."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from firmware_sim.catalog import Goods, marking_code
from gateway.wire import pb

VAT_TAX_TYPE = 100  # OFD protocol numbering
VAT_RATE_BP = 1200  # 12 %
# Banknotes a buyer hands over when paying cash, in tiyn (tenge * 100).
_BANKNOTES = (100_00, 200_00, 500_00, 1000_00, 2000_00, 5000_00, 10000_00, 20000_00)


def round_half_up_div(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up, for non-negative integers."""
    if numerator < 0 or denominator <= 0:
        raise ValueError("round_half_up_div takes a non-negative numerator and a positive denominator")
    return (2 * numerator + denominator) // (2 * denominator)


def included_vat(amount: int, rate_bp: int) -> int:
    """VAT included in amount: round_half_up(amount * rate / (10000 + rate))."""
    return round_half_up_div(amount * rate_bp, 10_000 + rate_bp)


def line_sum(price: int, quantity: int, discount: int = 0, markup: int = 0) -> int:
    """A line's sum: round_half_up(price * quantity / 1000) - discount + markup."""
    return round_half_up_div(price * quantity, 1000) - discount + markup


@dataclass(frozen=True)
class BasketItem:
    """What the cashier scanned: goods, quantity in thousandths, discount in tiyn, codes if marked."""

    goods: Goods
    quantity: int
    discount: int = 0
    markup: int = 0
    codes: tuple[str, ...] = ()


@dataclass
class PaymentPlan:
    """How the buyer pays: cash (handed over, may exceed the total), card and mobile amounts."""

    cash_given: int = 0
    card: int = 0
    mobile: int = 0
    extra: dict[int, int] = field(default_factory=dict)


def make_line(item: BasketItem) -> pb.ReceiptLine:
    """A receipt line with its sum and included VAT."""
    amount = line_sum(item.goods.price, item.quantity, item.discount, item.markup)
    line = pb.ReceiptLine(
        name=item.goods.name,
        gtin=item.goods.gtin,
        quantity=item.quantity,
        price=item.goods.price,
        discount=item.discount,
        markup=item.markup,
        sum=amount,
        unit=item.goods.unit,
        marking_codes=list(item.codes),
        ai_label=item.goods.ai_label,
    )
    line.taxes.add(tax_type=VAT_TAX_TYPE, rate_bp=VAT_RATE_BP, sum=included_vat(amount, VAT_RATE_BP))
    return line


def receipt_taxes(lines: list[pb.ReceiptLine]) -> list[pb.Tax]:
    """Receipt tax totals: the line taxes summed per (tax type, rate), in first-seen order."""
    totals: dict[tuple[int, int], int] = defaultdict(int)
    for line in lines:
        for tax in line.taxes:
            totals[(tax.tax_type, tax.rate_bp)] += tax.sum
    return [pb.Tax(tax_type=t, rate_bp=r, sum=s) for (t, r), s in totals.items()]


def fill_receipt(receipt: pb.Receipt, items: list[BasketItem], plan: PaymentPlan) -> None:
    """Add lines, taxes, total, payments and change to receipt; payments - change = total."""
    lines = [make_line(item) for item in items]
    receipt.lines.extend(lines)
    receipt.total = sum(line.sum for line in lines)
    receipt.taxes.extend(receipt_taxes(lines))
    non_cash = plan.card + plan.mobile + sum(plan.extra.values())
    if non_cash > receipt.total:
        raise ValueError("non-cash payments exceed the total")
    if plan.cash_given:
        if plan.cash_given < receipt.total - non_cash:
            raise ValueError("not enough cash")
        receipt.payments.add(type=pb.CASH, sum=plan.cash_given)
        receipt.change = plan.cash_given - (receipt.total - non_cash)
    elif non_cash != receipt.total:
        raise ValueError("payments do not cover the total")
    for kind, amount in ((pb.CARD, plan.card), (pb.MOBILE, plan.mobile), *plan.extra.items()):
        if amount:
            receipt.payments.add(type=kind, sum=amount)


def cash_handed_over(amount: int, rng: random.Random) -> int:
    """What a buyer hands over for amount in cash: exact, or rounded up to a banknote."""
    if rng.random() < 0.3:
        return amount
    for note in _BANKNOTES:
        if note >= amount:
            return note
    return -(-amount // _BANKNOTES[-1]) * _BANKNOTES[-1]


def random_basket(
    catalog: list[Goods], rng: random.Random,
    code_for: Callable[[Goods, random.Random], str] = marking_code,
) -> list[BasketItem]:
    """A realistic basket: one to a dozen lines, some weighed, some marked (codes by code_for), some off."""
    items: list[BasketItem] = []
    for goods in rng.sample(catalog, k=min(len(catalog), rng.choice((1, 1, 2, 3, 3, 4, 5, 6, 8, 12)))):
        if goods.weighed:
            quantity = rng.randrange(150, 2500)
            codes: tuple[str, ...] = ()
        else:
            pieces = 1 if goods.marking_group in ("shoes", "clothing") else rng.choice((1, 1, 1, 2, 3))
            quantity = pieces * 1000
            # Marked goods: one scanned code per piece.
            codes = tuple(code_for(goods, rng) for _ in range(pieces)) if goods.marking_group else ()
        gross = round_half_up_div(goods.price * quantity, 1000)
        discount = round_half_up_div(gross * rng.choice((5, 10, 15)), 100) if rng.random() < 0.1 else 0
        items.append(BasketItem(goods, quantity, discount, 0, codes))
    return items


def random_payment(total: int, rng: random.Random) -> PaymentPlan:
    """Cash (with change), card, mobile, or card and cash split, in realistic shares."""
    roll = rng.random()
    if roll < 0.35:
        return PaymentPlan(cash_given=cash_handed_over(total, rng))
    if roll < 0.75:
        return PaymentPlan(card=total)
    if roll < 0.92 or total < 2:
        return PaymentPlan(mobile=total)
    card = total // 2
    return PaymentPlan(card=card, cash_given=cash_handed_over(total - card, rng))


def basket_total(items: list[BasketItem]) -> int:
    """The total a basket will come to."""
    return sum(line_sum(i.goods.price, i.quantity, i.discount, i.markup) for i in items)

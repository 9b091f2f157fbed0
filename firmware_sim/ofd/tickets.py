"""OFD documents as a register builds them: receipts (items, storno, discounts, markups, taxes, payments,
marking codes), cash placements and the service block, from the same baskets and arithmetic as our own
registers (firmware_sim.receipts)."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from firmware_sim.catalog import Goods
from firmware_sim.receipts import BasketItem, PaymentPlan, included_vat, line_sum, random_payment
from gateway.wire import ofd_pb2

# Kazakhstan keeps one time zone, UTC+5, since March 2024; OFD times are the register's local time.
LOCAL_TIME = dt.timezone(dt.timedelta(hours=5))
VAT_PERCENT = 12_000  # thousandths of a percent: 12 %
VAT_RATE_BP = 1_200
SECTION_TOBACCO = "2"  # registers keep tobacco in a section of its own; everything else in "1"
CARD_TYPES = ("VISA", "MASTERCARD", "UNIONPAY")


def money(tiyn: int) -> ofd_pb2.Money:
    """Tiyn as Money: tenge (bills) and tiyn (coins)."""
    if tiyn < 0:
        raise ValueError("Money is never negative")
    return ofd_pb2.Money(bills=tiyn // 100, coins=tiyn % 100)


def tiyn(value: ofd_pb2.Money) -> int:
    """Money as tiyn."""
    return value.bills * 100 + value.coins


def ofd_datetime(ms: int) -> ofd_pb2.DateTime:
    """A UTC instant (ms) as the register's local DateTime."""
    local = dt.datetime.fromtimestamp(ms / 1000, LOCAL_TIME)
    return ofd_pb2.DateTime(
        date=ofd_pb2.Date(year=local.year, month=local.month, day=local.day),
        time=ofd_pb2.Time(hour=local.hour, minute=local.minute, second=local.second),
    )


@dataclass(frozen=True)
class Style:
    """How one register model writes receipts (registers of the field differ in these)."""

    version: int = 203  # 202: one excise_stamp per line, no parent_ticket, no payment details
    taxes_on_receipt: bool = False  # VAT once on the receipt instead of on every item
    vat: bool = True  # the seller is a VAT payer


@dataclass
class Basket:
    """What happened at the till: goods bought, goods scanned and cancelled, adjustments."""

    items: list[BasketItem]
    storno: list[BasketItem] = field(default_factory=list)  # scanned, then cancelled on the same receipt
    markup: int = 0  # a service charge, as a MARKUP item
    loyalty_discount: int = 0  # a discount on the whole receipt (amounts.discount)

    @property
    def total(self) -> int:
        """What the buyer owes: goods net of line discounts, plus the markup, less the loyalty discount."""
        goods = sum(line_sum(i.goods.price, i.quantity, i.discount, i.markup) for i in self.items)
        return goods + self.markup - self.loyalty_discount


def random_basket_extras(basket: Basket, catalog: list[Goods], rng: random.Random) -> Basket:
    """Now and then a cancelled line, a service charge or a loyalty discount, in realistic shares."""
    roll = rng.random()
    if roll < 0.04:
        goods = rng.choice([g for g in catalog if not g.marking_group and not g.weighed])
        basket.storno.append(BasketItem(goods, 1000))
    elif roll < 0.06:
        basket.markup = max(1, basket.total // 20)  # 5 % service charge
    elif roll < 0.09 and basket.total >= 100:
        basket.loyalty_discount = basket.total // 50  # 2 % card discount
    return basket


def _tax(amount: int, style: Style) -> list[ofd_pb2.TicketRequest.Tax]:
    if not style.vat or style.taxes_on_receipt:
        return []
    return [ofd_pb2.TicketRequest.Tax(
        tax_type=ofd_pb2.TAX_TYPE_VAT, taxation_type=ofd_pb2.TAXATION_RTS, percent=VAT_PERCENT,
        sum=money(included_vat(amount, VAT_RATE_BP)), is_in_total_sum=True,
    )]


def _section(goods: Goods) -> str:
    return SECTION_TOBACCO if goods.marking_group == "tobacco" else "1"


def commodities(item: BasketItem, style: Style) -> list[ofd_pb2.TicketRequest.Commodity]:
    """The commodity lines of one basket item: one line with all its codes (2.0.3), or, for marked goods
    on 2.0.2 (one excise_stamp a line), one line a piece."""
    goods = item.goods
    if style.version < 203 and len(item.codes) > 1:
        per_piece = item.quantity // len(item.codes)
        pieces = [BasketItem(goods, per_piece, codes=(code,)) for code in item.codes]
        return [line for piece in pieces for line in commodities(piece, style)]
    gross = line_sum(goods.price, item.quantity)
    line = ofd_pb2.TicketRequest.Commodity(
        name=goods.name, section_code=_section(goods), quantity=item.quantity, price=money(goods.price),
        sum=money(gross), taxes=_tax(gross, style), measure_unit_code=goods.unit,
    )
    if goods.gtin:
        line.barcode = goods.gtin
    if style.version >= 203:
        line.list_excise_stamp.extend(item.codes)
        if goods.marking_group:
            line.ntin = goods.gtin.lstrip("0")  # marked goods are in the National Catalogue by their GTIN
    elif item.codes:
        line.excise_stamp = item.codes[0]
    return [line]


def _storno(line: ofd_pb2.TicketRequest.Commodity) -> ofd_pb2.TicketRequest.StornoCommodity:
    """The cancellation of a line: the same fields, the codes again."""
    storno = ofd_pb2.TicketRequest.StornoCommodity(
        name=line.name, section_code=line.section_code, quantity=line.quantity, price=line.price,
        sum=line.sum, taxes=line.taxes, measure_unit_code=line.measure_unit_code,
        list_excise_stamp=line.list_excise_stamp,
    )
    if line.HasField("barcode"):
        storno.barcode = line.barcode
    if line.HasField("excise_stamp"):
        storno.excise_stamp = line.excise_stamp
    return storno


def _modifier(name: str, amount: int, style: Style) -> ofd_pb2.TicketRequest.Modifier:
    return ofd_pb2.TicketRequest.Modifier(name=name, sum=money(amount), taxes=_tax(amount, style))


def ticket_items(basket: Basket, style: Style) -> list[ofd_pb2.TicketRequest.Item]:
    """The receipt's items in till order: each line (then its discount), cancelled lines scanned then
    cancelled, the service charge last."""
    item_type = ofd_pb2.TicketRequest.Item
    items: list[ofd_pb2.TicketRequest.Item] = []
    for bought in basket.items:
        for line in commodities(bought, style):
            items.append(item_type(type=item_type.ITEM_TYPE_COMMODITY, commodity=line))
        if bought.discount:
            discount = _modifier("Скидка", bought.discount, style)
            items.append(item_type(type=item_type.ITEM_TYPE_DISCOUNT, discount=discount))
    for cancelled in basket.storno:
        for line in commodities(cancelled, style):
            items.append(item_type(type=item_type.ITEM_TYPE_COMMODITY, commodity=line))
            items.append(item_type(type=item_type.ITEM_TYPE_STORNO_COMMODITY, storno_commodity=_storno(line)))
    if basket.markup:
        markup = _modifier("Обслуживание 5%", basket.markup, style)
        items.append(item_type(type=item_type.ITEM_TYPE_MARKUP, markup=markup))
    return items


def payments(total: int, plan: PaymentPlan, style: Style, rng: random.Random) -> tuple[
    list[ofd_pb2.TicketRequest.Payment], int, int
]:
    """Payments (each type once, summing to the total), cash taken and change."""
    payment_type = ofd_pb2.TicketRequest.Payment
    out: list[ofd_pb2.TicketRequest.Payment] = []
    non_cash = plan.card + plan.mobile
    cash = total - non_cash
    if cash:
        out.append(payment_type(type=ofd_pb2.PAYMENT_CASH, sum=money(cash)))
    if plan.card:
        card = payment_type(type=ofd_pb2.PAYMENT_CARD, sum=money(plan.card))
        if style.version >= 203:
            card.card_payment_fields.CopyFrom(payment_type.CardPaymentFields(
                pos_terminal_id=f"T{rng.randrange(10**7):07d}", pos_card_type=rng.choice(CARD_TYPES),
                pos_autorization_code=rng.randrange(10**6), pos_rrn=rng.randrange(10**11, 10**12),
                pos_receipt_number=rng.randrange(1, 10**4),
            ))
        out.append(card)
    if plan.mobile:
        mobile = payment_type(type=ofd_pb2.PAYMENT_MOBILE, sum=money(plan.mobile))
        if style.version >= 203:
            mobile.mobile_payment_fields.CopyFrom(payment_type.MobilePaymentFields(
                qr_type="KASPI_QR", qr_id=f"{rng.randrange(16**16):016x}"))
        out.append(mobile)
    taken = plan.cash_given if cash else 0
    return out, taken, taken - cash if cash else 0


def _finish(ticket: ofd_pb2.TicketRequest, total: int, style: Style) -> None:
    """Receipt-level VAT for registers that put it there; the domain, which 2.0.3 asks for."""
    if style.vat and style.taxes_on_receipt:
        tax = ticket.taxes.add(tax_type=ofd_pb2.TAX_TYPE_VAT, taxation_type=ofd_pb2.TAXATION_RTS,
                               percent=VAT_PERCENT, is_in_total_sum=True)
        tax.sum.CopyFrom(money(included_vat(total, VAT_RATE_BP)))
    if style.version >= 203:
        ticket.domain.type = ofd_pb2.DOMAIN_TRADING


def build_ticket(operation: int, basket: Basket, style: Style, rng: random.Random,
                 plan: PaymentPlan | None = None) -> ofd_pb2.TicketRequest:
    """A receipt's TicketRequest without the register's own fields (time, operator, numbers)."""
    total = basket.total
    ticket = ofd_pb2.TicketRequest(operation=operation)  # type: ignore[arg-type]
    ticket.items.extend(ticket_items(basket, style))
    pays, taken, change = payments(total, plan or random_payment(total, rng), style, rng)
    ticket.payments.extend(pays)
    ticket.amounts.total.CopyFrom(money(total))
    if taken:
        ticket.amounts.taken.CopyFrom(money(taken))
        ticket.amounts.change.CopyFrom(money(change))
    if basket.loyalty_discount:
        ticket.amounts.discount.CopyFrom(
            _modifier("Скидка по карте", basket.loyalty_discount, Style(style.version, vat=False)))
    _finish(ticket, total, style)
    return ticket


def return_ticket(sale: ofd_pb2.TicketRequest, lines: int, style: Style) -> ofd_pb2.TicketRequest:
    """A SELL_RETURN of a sale's first `lines` goods lines (each with its discount, cancelled lines left
    out), refunded the way the sale was paid: card, else mobile, else cash."""
    item_type = ofd_pb2.TicketRequest.Item
    kept: list[ofd_pb2.TicketRequest.Item] = []
    sale_items = list(sale.items)
    goods_lines = 0
    for index, item in enumerate(sale_items):
        following = sale_items[index + 1].type if index + 1 < len(sale_items) else None
        if item.type == item_type.ITEM_TYPE_COMMODITY and following != item_type.ITEM_TYPE_STORNO_COMMODITY:
            if goods_lines == lines:
                break
            goods_lines += 1
            kept.append(item)
        elif item.type == item_type.ITEM_TYPE_DISCOUNT and kept:  # the discount of the line before
            kept.append(item)
    total = sum(tiyn(i.commodity.sum) for i in kept if i.HasField("commodity")) - sum(
        tiyn(i.discount.sum) for i in kept if i.HasField("discount"))
    ticket = ofd_pb2.TicketRequest(operation=ofd_pb2.OPERATION_SELL_RETURN)
    ticket.items.extend(kept)
    paid_by = {p.type for p in sale.payments}
    kind = next((k for k in (ofd_pb2.PAYMENT_CARD, ofd_pb2.PAYMENT_MOBILE) if k in paid_by),
                ofd_pb2.PAYMENT_CASH)
    ticket.payments.add(type=kind, sum=money(total))
    ticket.amounts.total.CopyFrom(money(total))
    if kind == ofd_pb2.PAYMENT_CASH:
        ticket.amounts.taken.CopyFrom(money(total))
        ticket.amounts.change.CopyFrom(money(0))
    _finish(ticket, total, style)
    return ticket

"""An OFD register's documents as events of our contract: receipts, cash movements, Z reports, cancels.

The mapping, field by field, is docs/ofd.md's; the rules that are ours:

- Items: COMMODITY -> a line; STORNO_COMMODITY -> a line marked storno (its sum is subtracted from the
  total, its codes are not sold). DISCOUNT/MARKUP items modify the line just before them when it is a
  commodity line (the line's `sum` is OFD's sum less the discount plus the markup, and the modifier's taxes
  go into the line's), STORNO_DISCOUNT/STORNO_MARKUP the storno line just before them; with no such line
  they are receipt-level, as `amounts.discount`/`markup` are (`Receipt.discount`/`markup`).
- Cash: our CASH payment is the cash handed over (`amounts.taken` when larger than OFD's cash payment), so
  payments - change = total holds whichever way the register counted.
- Nothing is refused: what does not fit our limits (strings, lines, codes per line) is cut with a finding
  (the request frame is kept whole as the event's evidence); an item whose body does not match its type
  is left out with a finding; a date that does not exist becomes time 0 (the bad_time finding).

Findings made here (anomaly kinds; content findings of the events follow from receipt_validation):

    ofd_field_truncated       a string, a line's codes or the receipt's lines cut to the gateway's limits
    ofd_item_malformed        an item whose body does not match its type, left out
    parent_register_unknown   a return names a selling register (KGD number) tracegate does not know
    same_taxpayer_and_customer  an offline receipt whose buyer IIN/BIN is the seller's (online: code 17)
    z_report_missing          CLOSE_SHIFT without the register's Z report: the gateway's counters stand in
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from gateway.ofd import units
from gateway.ofd.framing import as_text
from gateway.settings import Limits
from gateway.wire import ofd_pb2, pb

Item = ofd_pb2.TicketRequest.Item
_BODY = {
    Item.ITEM_TYPE_COMMODITY: "commodity",
    Item.ITEM_TYPE_STORNO_COMMODITY: "storno_commodity",
    Item.ITEM_TYPE_MARKUP: "markup",
    Item.ITEM_TYPE_STORNO_MARKUP: "storno_markup",
    Item.ITEM_TYPE_DISCOUNT: "discount",
    Item.ITEM_TYPE_STORNO_DISCOUNT: "storno_discount",
}
_CASH = ofd_pb2.PAYMENT_CASH


def finding(kind: str, detail: str, line: int = 0) -> pb.Finding:
    """A finding on an event made from an OFD document."""
    return pb.Finding(kind=kind, detail=detail, line=line)


@dataclass
class Mapping:
    """What a document's mapping needs to know besides the document."""

    limits: Limits
    offset_min: int
    device_of_kgd: Callable[[str], str | None]  # a KGD registration number -> our device id, if registered
    findings: list[pb.Finding] = field(default_factory=list)

    def text(self, value: str | bytes, what: str) -> str:
        """A string of the document, cut to the gateway's limit (with a finding)."""
        if not value:  # most optional strings are absent
            return ""
        if isinstance(value, str) and len(value) <= self.limits.max_string_chars:  # the usual case
            return value
        text = as_text(value)
        limit = self.limits.max_string_chars
        if len(text) > limit:
            cut = f"{what}: {len(text)} characters, cut to {limit}"
            self.findings.append(finding("ofd_field_truncated", cut))
            return text[:limit]
        return text

    def line_text(self, value: str | bytes, number: int, what: str) -> str:
        """text() of a line's string, its finding naming the line ("line 3 barcode")."""
        if not value:
            return ""
        if isinstance(value, str) and len(value) <= self.limits.max_string_chars:
            return value
        return self.text(value, f"line {number} {what}")

    def time(self, value: ofd_pb2.DateTime) -> int:
        """ms UTC of a register's local time; 0 for a date that does not exist (content finding bad_time)."""
        return units.local_ms(value, self.offset_min) or 0


def cashier(operator: ofd_pb2.Operator, mapping: Mapping) -> str:
    """The cashier's name, or the operator code when the register sent no name."""
    name = mapping.text(operator.name, "operator name")
    return name or f"operator {operator.code}"


# A message's fields as constructor keywords: a receipt is built in one constructor call from these (upb
# builds nested messages from dicts in place; building each line as a message and copying it in cost twice).
Fields = dict[str, Any]


def _tax(tax: ofd_pb2.TicketRequest.Tax, sign: int = 1) -> Fields:
    return {"tax_type": tax.tax_type, "rate_bp": units.rate_bp(tax.percent),
            "sum": sign * units.tiyn(tax.sum), "added": not tax.is_in_total_sum,
            "taxation_type": tax.taxation_type}


def _add_taxes(taxes: Iterable[Fields], into: list[Fields]) -> None:
    """Add taxes into a list of Tax fields, merging those of the same type and rate."""
    for tax in taxes:
        same = next((t for t in into if (t["tax_type"], t["rate_bp"]) == (tax["tax_type"], tax["rate_bp"])),
                    None)
        if same is None:
            into.append(tax)
        else:
            same["sum"] = units.plus(same["sum"], tax["sum"])


def _line(body: ofd_pb2.TicketRequest.Commodity | ofd_pb2.TicketRequest.StornoCommodity, storno: bool,
          number: int, mapping: Mapping) -> Fields:
    text = mapping.line_text
    codes = [text(code, number, "marking code") for code in body.list_excise_stamp]
    single = text(body.excise_stamp, number, "marking code") if body.HasField("excise_stamp") else ""
    if single and single not in codes:  # 2.0.2's one code; a 2.0.3 register may send it in both
        codes.append(single)
    limit = mapping.limits.max_codes_per_line
    if len(codes) > limit:
        mapping.findings.append(finding("ofd_field_truncated", f"{len(codes)} marking codes cut to {limit}",
                                        number))
        codes = codes[:limit]
    barcode = text(body.barcode, number, "barcode")
    ntin = text(body.ntin, number, "ntin")
    code = body.code if isinstance(body, ofd_pb2.TicketRequest.Commodity) and body.HasField("code") else 0
    name = text(body.name, number, "name") or (f"code {code}" if code else "")
    return {
        "name": name, "gtin": barcode or ntin, "quantity": min(body.quantity, units.INT64_MAX),
        "price": units.tiyn(body.price), "sum": units.tiyn(body.sum), "taxes": [_tax(t) for t in body.taxes],
        "marking_codes": codes, "unit": text(body.measure_unit_code, number, "unit"), "storno": storno,
        "section_code": text(body.section_code, number, "section"), "ntin": ntin,
        "physical_label": text(body.physical_label, number, "physical label"),
        "product_id": text(body.product_id, number, "product id"), "catalogue_code": code,
    }


def _modify(line: Fields, modifier: ofd_pb2.TicketRequest.Modifier, discount: bool) -> None:
    """A discount or markup of one line: its sum after it, its taxes net of the modifier's."""
    amount = units.tiyn(modifier.sum)
    sign = -1 if discount else 1
    if discount:
        line["discount"] = units.plus(line.get("discount", 0), amount)
    else:
        line["markup"] = units.plus(line.get("markup", 0), amount)
    line["sum"] = units.plus(line["sum"], sign * amount)
    _add_taxes((_tax(t, sign) for t in modifier.taxes), line["taxes"])


def _adjust(receipt: Fields, modifier: ofd_pb2.TicketRequest.Modifier, discount: bool, sign: int,
            mapping: Mapping) -> None:
    """A receipt-level discount or markup (or, sign -1, the storno of one)."""
    adjustment = receipt.setdefault("discount" if discount else "markup", {"sum": 0, "taxes": [], "name": ""})
    adjustment["sum"] = units.plus(adjustment["sum"], sign * units.tiyn(modifier.sum))
    _add_taxes((_tax(t, sign) for t in modifier.taxes), adjustment["taxes"])
    if modifier.HasField("name") and not adjustment["name"]:
        adjustment["name"] = mapping.text(modifier.name, "modifier name")


def _items(ticket: ofd_pb2.TicketRequest, receipt: Fields, mapping: Mapping) -> list[Fields]:
    lines: list[Fields] = []
    last: tuple[Fields, bool] | None = None  # the line just before, and whether it is storno
    for position, item in enumerate(ticket.items, start=1):
        body_name = _BODY.get(item.type)
        if body_name is None or not item.HasField(body_name):
            detail = f"item {position} of type {item.type} has no {body_name or 'known'} body"
            mapping.findings.append(finding("ofd_item_malformed", detail))
            continue
        body = getattr(item, body_name)
        if item.type in (Item.ITEM_TYPE_COMMODITY, Item.ITEM_TYPE_STORNO_COMMODITY):
            storno = item.type == Item.ITEM_TYPE_STORNO_COMMODITY
            line = _line(body, storno, len(lines) + 1, mapping)
            lines.append(line)
            last = (line, storno)
            continue
        discount = item.type in (Item.ITEM_TYPE_DISCOUNT, Item.ITEM_TYPE_STORNO_DISCOUNT)
        storno = item.type in (Item.ITEM_TYPE_STORNO_DISCOUNT, Item.ITEM_TYPE_STORNO_MARKUP)
        if last is not None and last[1] == storno:
            _modify(last[0], body, discount)
        else:
            _adjust(receipt, body, discount, -1 if storno else 1, mapping)
    return lines


def _payments(ticket: ofd_pb2.TicketRequest, mapping: Mapping) -> list[Fields]:
    amounts = ticket.amounts
    taken = units.tiyn(amounts.taken) if amounts.HasField("taken") else 0
    payments = []
    for payment in ticket.payments:
        paid = units.tiyn(payment.sum)
        if payment.type == _CASH:
            paid = max(paid, taken)  # the cash handed over (see the module docstring)
        out: Fields = {"type": units.payment_type(payment.type), "sum": paid}
        if payment.HasField("card_payment_fields"):
            card = payment.card_payment_fields
            out["card"] = pb.CardPayment(
                terminal_id=mapping.text(card.pos_terminal_id, "card terminal id"),
                card_type=mapping.text(card.pos_card_type, "card type"),
                auth_code=str(card.pos_autorization_code) if card.HasField("pos_autorization_code") else "",
                rrn=str(card.pos_rrn) if card.HasField("pos_rrn") else "",
                terminal_receipt_number=card.pos_receipt_number,
            )
        if payment.HasField("mobile_payment_fields"):
            mobile = payment.mobile_payment_fields
            out["mobile"] = pb.MobilePayment(
                qr_type=mapping.text(mobile.qr_type, "mobile payment type"),
                qr_id=mapping.text(mobile.qr_id, "mobile payment id"),
            )
        payments.append(out)
    return payments


def ticket_offline(request: ofd_pb2.Request) -> bool:
    """Was the receipt made offline: it carries the register's own offline number, or the request reports
    an offline period."""
    return request.ticket.HasField("offline_ticket_number") or request.service.HasField("offline_period")


def receipt(request: ofd_pb2.Request, mapping: Mapping) -> tuple[pb.Receipt, int]:
    """A TICKET's Receipt (shift and document numbers left to the caller) and its time (ms UTC)."""
    ticket = request.ticket
    amounts = ticket.amounts
    fields: Fields = {
        "operation": units.operation(ticket.operation), "cashier": cashier(ticket.operator, mapping),
        "total": units.tiyn(amounts.total), "change": units.tiyn(amounts.change),
        "offline": ticket_offline(request), "offline_number": ticket.offline_ticket_number,
    }
    lines = _items(ticket, fields, mapping)
    if amounts.HasField("discount"):
        _adjust(fields, amounts.discount, True, 1, mapping)
    if amounts.HasField("markup"):
        _adjust(fields, amounts.markup, False, 1, mapping)
    fields["payments"] = _payments(ticket, mapping)
    fields["taxes"] = [_tax(t) for t in ticket.taxes]  # stated on the receipt (not on items) only
    if ticket.HasField("extension_options"):
        options = ticket.extension_options
        email = mapping.text(options.customer_email, "buyer e-mail")
        phone = mapping.text(options.customer_phone, "buyer phone")
        iin = mapping.text(options.customer_iin_or_bin, "buyer IIN/BIN")
        if email or phone or iin:
            fields["buyer"] = pb.BuyerContacts(email=email, phone=phone, iin=iin)
    if ticket.HasField("parent_ticket"):
        parent = ticket.parent_ticket
        kgd_number = mapping.text(parent.kgd_kkm_id, "parent register number")
        device_id = mapping.device_of_kgd(kgd_number)
        if device_id is None:
            detail = f"the return names a sale on register {kgd_number or '(none)'}, unknown to tracegate"
            mapping.findings.append(finding("parent_register_unknown", detail))
        fields["parent"] = pb.ParentDocument(
            device_id=device_id or "", fiscal_sign=mapping.text(parent.parent_ticket_number, "parent number"),
            time_ms=mapping.time(parent.parent_ticket_data_time),
            total=units.tiyn(parent.parent_ticket_total), register_number=kgd_number,
            offline=parent.parent_ticket_is_offline,
        )
    geo = request.service.security_stats.geo_position
    if request.service.security_stats.HasField("geo_position"):
        fields["location"] = pb.Geolocation(latitude_e6=geo.latitude, longitude_e6=geo.longitude)
    limit = mapping.limits.max_lines
    if len(lines) > limit:
        mapping.findings.append(finding("ofd_field_truncated", f"{len(lines)} lines cut to {limit}"))
        del lines[limit:]
    return pb.Receipt(lines=lines, **fields), mapping.time(ticket.date_time)


def fit_event(event: pb.Event, mapping: Mapping) -> bytes:
    """The event's bytes within the gateway's size limit: a receipt too large loses lines from its end
    (with a finding; the frame is kept whole as evidence). Anything else is far below the limit."""
    data = event.SerializeToString()
    limit = mapping.limits.max_event_bytes
    if len(data) <= limit or not event.HasField("receipt"):
        return data
    lines = event.receipt.lines
    before = len(lines)
    while len(data) > limit and len(lines) > 1:
        del lines[max(1, len(lines) * 3 // 4):]
        data = event.SerializeToString()
    mapping.findings.append(finding(
        "ofd_field_truncated", f"the receipt is larger than {limit} bytes: {before} lines cut to {len(lines)}"
    ))
    return data


def cash_movement(request: ofd_pb2.Request, mapping: Mapping) -> tuple[pb.CashMovement, int]:
    """A MONEY_PLACEMENT's CashMovement (shift number left to the caller) and its time."""
    placement = request.money_placement
    kind = pb.CashMovement.DEPOSIT if placement.operation == ofd_pb2.MONEY_PLACEMENT_DEPOSIT else (
        pb.CashMovement.WITHDRAWAL)
    movement = pb.CashMovement(
        kind=kind, sum=units.tiyn(placement.sum), cashier=cashier(placement.operator, mapping),
        offline=placement.is_offline or request.service.HasField("offline_period"),
    )
    return movement, mapping.time(placement.datetime)


def shift_close_of_report(z: ofd_pb2.ZXReport, shift_number: int, mapping: Mapping) -> pb.ShiftClose:
    """The register's Z report as our ShiftClose (document numbers and cashier left to the caller)."""
    taxes: dict[int, list[pb.Tax]] = {}
    for tax in z.taxes:
        for operation in tax.operations:
            taxes.setdefault(operation.operation, []).append(pb.Tax(
                tax_type=tax.tax_type, rate_bp=units.rate_bp(tax.percent), sum=units.tiyn(operation.sum),
            ))
    close = pb.ShiftClose(shift_number=shift_number)
    for ticket_operation in z.ticket_operations:
        op = ticket_operation.operation
        close.operations.add(
            operation=units.operation(op), count=ticket_operation.tickets_count,
            sum=units.tiyn(ticket_operation.tickets_sum),
            payments=[pb.Payment(type=units.payment_type(p.payment), sum=units.tiyn(p.sum))
                      for p in ticket_operation.payments],
            taxes=taxes.get(op, []), discounts=units.tiyn(ticket_operation.discount_sum),
            markups=units.tiyn(ticket_operation.markup_sum), change=units.tiyn(ticket_operation.change_sum),
            offline_count=ticket_operation.offline_count,
        )
        close.receipt_count = units.count_plus(close.receipt_count, ticket_operation.tickets_count)
    for placement in z.money_placements:
        if placement.operation == ofd_pb2.MONEY_PLACEMENT_DEPOSIT:
            close.cash_deposits = units.plus(close.cash_deposits, units.tiyn(placement.operations_sum))
        else:
            close.cash_withdrawals = units.plus(close.cash_withdrawals, units.tiyn(placement.operations_sum))
    close.cash_in_drawer = units.tiyn(z.cash_sum)
    total_counts = {t.operation: t.tickets_total_count for t in z.ticket_operations}
    for total in z.non_nullable_sums:
        close.grand_totals.add(operation=units.operation(total.operation),
                               count=total_counts.get(total.operation, 0), sum=units.tiyn(total.sum))
    if z.HasField("open_shift_time"):
        close.opened_ms = mapping.time(z.open_shift_time)
    return close

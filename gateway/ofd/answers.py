"""What the gateway answers an OFD register: X/Z counters, registration data, taxation, receipt numbers.

Everything comes from what tracegate holds: the register's registration (gateway/devices.py) and the
counters the gateway keeps for it (gateway/ofd/counters.py). No ads, no catalogue (docs/ofd.md).
"""

from __future__ import annotations

from gateway.devices import Device
from gateway.ofd import units
from gateway.ofd.counters import totals
from gateway.wire import ofd_pb2, pb

Z = ofd_pb2.ZXReport
_SELL, _SELL_RETURN = ofd_pb2.OPERATION_SELL, ofd_pb2.OPERATION_SELL_RETURN
_BUY, _BUY_RETURN = ofd_pb2.OPERATION_BUY, ofd_pb2.OPERATION_BUY_RETURN


def ok(command: int) -> ofd_pb2.Response:
    """A Response with result OK (bodies are added by the caller)."""
    return ofd_pb2.Response(command=command, result=ofd_pb2.Result(result_code=0))  # type: ignore[arg-type]


def _operation(operation: int, count: int, amount: int) -> Z.Operation:
    return Z.Operation(operation=operation, count=max(count, 0), sum=units.money(amount))  # type: ignore[arg-type]


def zx_report(state: pb.OfdRegisterState, now_ms: int, offset_min: int) -> ofd_pb2.ZXReport:
    """The counters of the register's open shift (an X report) or of its last closed one (the last Z);
    an empty report with shift 0 when it has had none."""
    shift = state.shift
    report = Z(
        date_time=units.local_datetime(now_ms, offset_min), shift_number=shift.shift_number,
        cash_sum=units.money(max(shift.cash_sum, 0)),
        revenue=Z.Revenue(sum=units.money(0), is_negative=False),
    )
    if not shift.shift_number:
        return report
    sections: dict[str, Z.Section] = {}
    for section in shift.sections:
        code = section.section_code
        out = sections.get(code)
        if out is None:
            out = sections[code] = report.sections.add(section_code=code)
        out.operations.append(_operation(section.operation, section.count, section.sum))
    grand = totals(state.ticket_totals)
    cash_totals = totals(state.cash_totals)
    for c in shift.operations:
        report.operations.append(_operation(c.operation, c.lines_count, c.lines_sum))
        if c.discount_count:
            report.discounts.append(_operation(c.operation, c.discount_count, c.discounts))
        if c.markup_count:
            report.markups.append(_operation(c.operation, c.markup_count, c.markups))
        report.total_result.append(_operation(c.operation, c.count, c.sum))
        report.ticket_operations.add(
            operation=c.operation, tickets_total_count=max(grand.get(c.operation, (0, 0))[0], 0),
            tickets_count=max(c.count, 0), tickets_sum=units.money(c.sum),
            payments=[Z.TicketOperation.Payment(payment=p.type, sum=units.money(p.sum), count=max(p.count, 0))  # type: ignore[arg-type]
                      for p in c.payments],
            offline_count=c.offline_count, discount_sum=units.money(c.discounts),
            markup_sum=units.money(c.markups), change_sum=units.money(c.change),
        )
    taxes: dict[tuple[int, int], Z.Tax] = {}
    for tax in shift.taxes:
        key = (tax.tax_type, tax.percent)
        out_tax = taxes.get(key)
        if out_tax is None:
            out_tax = taxes[key] = report.taxes.add(tax_type=tax.tax_type, percent=tax.percent)
        out_tax.operations.add(
            operation=tax.operation, turnover=units.money(tax.turnover), sum=units.money(tax.sum),
            turnover_without_tax=units.money(tax.turnover - tax.sum),
        )
    for start in shift.start_totals:
        report.start_shift_non_nullable_sums.add(operation=start.operation, sum=units.money(start.sum))
    for cash in shift.cash:
        report.money_placements.add(
            operation=cash.operation, operations_total_count=cash_totals.get(cash.operation, (0, 0))[0],
            operations_count=cash.count, operations_sum=units.money(cash.sum),
            offline_count=cash.offline_count,
        )
    if shift.annulled:
        annulled = sum(a.count for a in shift.annulled)
        report.annulled_tickets.CopyFrom(Z.AnnulledTickets(
            total=annulled, count=annulled,
            operations=[_operation(a.operation, a.count, a.sum) for a in shift.annulled],
        ))
    sums = {c.operation: c.sum for c in shift.operations}
    revenue = sums.get(_SELL, 0) - sums.get(_SELL_RETURN, 0) - sums.get(_BUY, 0) + sums.get(_BUY_RETURN, 0)
    report.revenue.CopyFrom(Z.Revenue(sum=units.money(revenue), is_negative=revenue < 0))
    for total in state.ticket_totals:
        report.non_nullable_sums.add(operation=total.operation, sum=units.money(total.sum))
    report.open_shift_time.CopyFrom(units.local_datetime(shift.opened_ms, offset_min))
    if shift.closed_ms:
        report.close_shift_time.CopyFrom(units.local_datetime(shift.closed_ms, offset_min))
    return report


def report_response(report_type: int, state: pb.OfdRegisterState, now_ms: int, offset_min: int
                    ) -> ofd_pb2.ReportResponse:
    """REPORT / CLOSE_SHIFT / INFO's report part."""
    return ofd_pb2.ReportResponse(report=report_type, zx_report=zx_report(state, now_ms, offset_min))  # type: ignore[arg-type]


def service_response(device: Device, state: pb.OfdRegisterState, service: ofd_pb2.ServiceRequest
                     ) -> ofd_pb2.ServiceResponse:
    """The service part: registration data and bound taxation when asked, the last document always."""
    assert device.ofd is not None
    out = ofd_pb2.ServiceResponse()
    if service.get_reg_info:
        out.reg_info.CopyFrom(ofd_pb2.ServiceResponse.RegInfo(
            kkm=ofd_pb2.KkmRegInfo(fns_kkm_id=device.ofd.kgd_number, kkm_id=str(device.ofd.ofd_id)),
            pos=ofd_pb2.PosRegInfo(title=device.store_id),
            org=ofd_pb2.OrgRegInfo(inn=device.seller_tin),
        ))
    bound = state.bound_taxes
    if service.get_binded_taxation and bound:
        out.binded_taxation.CopyFrom(ofd_pb2.BindedTaxation(
            taxation_type=bound[0].taxation_type,
            taxes=[ofd_pb2.BindedTaxation.BindedTax(tax_type=t.tax_type, percent=units.percent(t.rate_bp))
                   for t in bound],
        ))
    if state.shift.shift_number:
        last = out.last_document_info
        last.fr_shift_number = state.shift.shift_number
        if state.document_number:
            last.printed_document_number = state.printed_document_number or state.document_number
    return out


def check_url(
    base: str, ticket_number: str, kgd_number: str, total: int, time_ms: int, offset_min: int
) -> str:
    """The consumer-check link printed as the receipt's QR code (the i/f/s/t form OFDs print); every value
    is digits (the KGD number as registered: 12 digits; an OFD total is never negative): nothing to escape."""
    moment = units.compact_local(time_ms, offset_min)
    return f"{base}/check?i={ticket_number}&f={kgd_number}&s={total // 100}.{total % 100:02d}&t={moment}"


def ticket_response(ticket_number: str, url: str) -> ofd_pb2.TicketResponse:
    """TICKET's answer body: the fiscal number the register prints, and the link for its QR code."""
    return ofd_pb2.TicketResponse(ticket_number=ticket_number, qr_code=url.encode())

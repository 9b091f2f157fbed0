"""Receipts and registers for retailers and analysts, and many codes' statuses at once."""

from __future__ import annotations

from aiohttp import web

from gateway import errors
from gateway.errors import GatewayError
from gateway.http.analyst_routes import limit_of, reads_of
from gateway.http.errors import lang_of
from gateway.http.query_values import whole_number
from gateway.http.uploads import upload_work
from gateway.query.code_statuses import codes_of_upload, statuses_csv
from gateway.query.csv_dialect import dialect_for
from gateway.query.local_time import parse_time
from gateway.query.receipts import MAX_PAGE, ReceiptFilter
from gateway.query.reconcile import parse_date
from gateway.query.refusals import MAX_PAGE as MAX_REFUSALS
from gateway.query.refusals import RefusalFilter


async def get_receipts(request: web.Request) -> web.Response:
    """Receipts by register, shift, local day, fiscal sign (or ticket number), document number or amount."""
    receipts = reads_of(request).receipts
    q = request.query
    flt = ReceiptFilter(
        seller_tin=q.get("tin") or None,
        device_id=q.get("device") or None,
        shift_number=whole_number(request, "shift"),
        day=parse_date(q["date"]) if q.get("date") else None,
        fiscal_sign=q.get("sign") or None,
        document_number=whole_number(request, "document", 2**63 - 1),
        amount=q.get("amount") or None,
    )
    limit, cursor = limit_of(request, 100, MAX_PAGE), q.get("cursor") or None
    return web.json_response(await receipts.page(flt, limit=limit, cursor=cursor))


async def get_receipt(request: web.Request) -> web.Response:
    """One receipt: lines, code verdicts, anomalies in the reader's words, the signed original."""
    receipts = reads_of(request).receipts
    device = request.match_info["device"]
    raw_seq = request.match_info["seq"]
    if not raw_seq.isdigit() or int(raw_seq) >= 2**63:
        raise GatewayError(errors.NOT_FOUND, key="error.no_receipt")
    return web.json_response(await receipts.one(device, int(raw_seq)))


async def get_register(request: web.Request) -> web.Response:
    """A register's Z-reports and its X-report (the open shift so far)."""
    return web.json_response(await reads_of(request).receipts.register(request.match_info["device"]))


async def get_register_refusals(request: web.Request) -> web.Response:
    """A register's refusals of a period (default the last week): counts by error code, newest first."""
    receipts = reads_of(request).receipts
    q = request.query
    proven = q.get("proven") or "1"  # empty, like an empty cursor or code: the default
    if proven not in ("0", "1"):
        raise GatewayError(errors.MALFORMED_REQUEST, "proven must be 0 or 1")
    flt = RefusalFilter(
        device_id=request.match_info["device"],
        since_ms=parse_time(q.get("since"), name="since"),
        until_ms=parse_time(q.get("until"), name="until"),
        proven=proven == "1",
        error_code=q.get("code") or None,
    )
    limit, cursor = limit_of(request, 20, MAX_REFUSALS), q.get("cursor") or None
    return web.json_response(await receipts.refusals(flt, limit=limit, cursor=cursor))


async def post_code_statuses(request: web.Request) -> web.Response:
    """Each code of an upload (one a line; ?input=csv: a CSV's first column; a workbook's): its status."""
    receipts = reads_of(request).receipts
    as_csv = request.query.get("input") == "csv"
    raw = await request.read()
    codes = await upload_work(lambda: codes_of_upload(raw, as_csv=as_csv))
    result = await receipts.code_statuses(codes)
    if request.query.get("format") == "csv":
        lang = lang_of(request)
        dialect = dialect_for(request.query.get("dialect"), lang)
        return web.Response(
            body=await upload_work(lambda: statuses_csv(result, dialect, lang).encode()),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": 'attachment; filename="code-statuses.csv"'},
        )
    return web.json_response(result)


def setup_receipt_routes(app: web.Application) -> None:
    """Add the receipt, register (reports, refusals) and code-status routes."""
    app.router.add_get("/v1/receipts", get_receipts)
    app.router.add_get("/v1/receipts/{device}/{seq}", get_receipt)
    app.router.add_get("/v1/registers/{device}/reports", get_register)
    app.router.add_get("/v1/registers/{device}/refusals", get_register_refusals)
    app.router.add_post("/v1/codes/statuses", post_code_statuses)

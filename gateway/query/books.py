"""Compare a retailer's own books (a CSV or XLSX export) with the receipts we hold, differences first.

The comparison covers what the file covers: its registers, over the local days from its first receipt to
its last (or the range the user picks), so fifteen uploaded receipts are compared with the receipts of
those registers and days, not with every receipt of the seller. Files come as people have them: `,` or
`;` separated, UTF-8 (with or without BOM) or Windows-1251, headers in English, Russian or Kazakh, or an
Excel workbook (read with openpyxl).
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import ParseError

from gateway import errors
from gateway.auth.tokens import Principal
from gateway.errors import GatewayError
from gateway.i18n import operation_text, translate
from gateway.query.csv_dialect import RFC, CsvDialect
from gateway.query.local_time import LOCAL_TZ, TZ_LABEL, day_range_ms, local_day, local_iso, parse_time
from gateway.query.scoping import require_tin
from gateway.query.workbook_guard import UNREADABLE, check_workbook
from gateway.storage.columns import MAX_TIME_MS

MAX_BOOK_ROWS = 200_000
MAX_SHEET_ROWS = 1_048_576  # Excel's own: blank rows count, so padding cannot run on
MAX_RANGE_DAYS = 366
BOOKS_COLUMNS = ("document_number", "device_id", "time", "total")
# Statuses in the order a retailer should look at them: differences first.
STATUSES = ("amount_differs", "missing_on_our_side", "missing_in_your_books", "matched")
RESULT_COLUMNS = (
    "status",
    "device_id",
    "document_number",
    "operation",
    "our_time",
    "their_time",
    "our_total",
    "their_total",
    "difference",
)
# Header names as exports write them (compared lower-case, without spaces, '_', '.', '№').
ALIASES = {
    "document_number": (
        "documentnumber",
        "document",
        "doc",
        "docno",
        "receipt",
        "receiptnumber",
        "number",
        "номердокумента",
        "номерчека",
        "чек",
        "чека",
        "документ",
        "номер",
        "нөмір",
        "құжатнөмірі",
        "чекнөмірі",
    ),
    "device_id": (
        "deviceid",
        "device",
        "register",
        "registerid",
        "kkm",
        "касса",
        "ккм",
        "регистратор",
        "заводскойномер",
        "кассааппараты",
        "бақылаукассалықмашина",
    ),
    "time": (
        "time",
        "date",
        "datetime",
        "timestamp",
        "время",
        "дата",
        "датаивремя",
        "датавремя",
        "уақыт",
        "күні",
        "күніменуақыты",
        "күніуақыты",
    ),
    "total": (
        "total",
        "sum",
        "amount",
        "сумма",
        "итого",
        "суммачека",
        "сома",
        "жиыны",
        "барлығы",
        "чексомасы",
    ),
}
_NORMAL = re.compile(r"[\s_.№#\-]+")
_DIGITS = re.compile(r"[0-9]+")
_AMOUNT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)")  # tenge once spaces, ₸ and a comma are gone


@dataclass(frozen=True)
class BookEntry:
    """One line of the retailer's export: money in minor units, time in ms UTC."""

    document_number: int
    device_id: str
    time_ms: int
    total: int


MAX_AMOUNT = decimal.Decimal(2**63) / 100  # in tenge: the receipts' Int64 minor units


def parse_money(value: object) -> int:
    """Tenge with up to two decimals ('1234.50', '1 234,50', '-15', 1234.5) as exact minor units."""
    if isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool):
        text = str(value)
    else:
        text = str(value or "")
    cleaned = (
        text.strip()
        .replace(" ", "")
        .replace("\u00a0", "")
        .replace("\u202f", "")
        .replace("₸", "")
        .replace(",", ".")
    )
    # Plain digits only: Decimal would also read 1e3, NaN and digits of other scripts (１２３).
    if not _AMOUNT.fullmatch(cleaned):
        raise ValueError(f"total {text[:40]!r} is not an amount")
    minor = decimal.Decimal(cleaned) * 100
    if not minor.is_finite() or abs(minor) >= MAX_AMOUNT * 100:
        raise ValueError(f"total {text[:40]!r} is not an amount of tenge")
    if minor != minor.to_integral_value():
        raise ValueError(f"total {text!r} has more than two decimals")
    return int(minor)


def _time_of(value: object) -> int:
    if isinstance(value, dt.datetime):  # an Excel cell: local time unless it says otherwise
        moment = value if value.tzinfo else value.replace(tzinfo=LOCAL_TZ)
        ms = int(moment.timestamp() * 1000)
    elif isinstance(value, dt.date):
        ms = int(dt.datetime(value.year, value.month, value.day, tzinfo=LOCAL_TZ).timestamp() * 1000)
    else:
        parsed = parse_time(str(value or ""), name="time")
        if parsed is None:
            raise ValueError("time is empty")
        ms = parsed
    if not 0 <= ms <= MAX_TIME_MS:  # what a receipt's time can be (columns.clamp_time)
        raise ValueError(f"time {str(value)[:40]!r} is not between 1970 and 2100")
    return ms


def _number(value: object) -> int:
    if isinstance(value, float) and value.is_integer() and value >= 0:  # an Excel number cell
        return int(value)
    text = str(value if value is not None else "").strip()
    if not _DIGITS.fullmatch(text):
        raise ValueError(text)
    return int(text)


# What each field of a books row is read with, in the order a row's problems are reported.
_READERS = (("document_number", _number), ("time", _time_of), ("total", parse_money))


def _row_error(lang: str, line: int, field: str, value: object) -> GatewayError:
    """A row that cannot be read: its line, the field and the value as written, in the reader's words."""
    shown = str(value if value is not None else "").strip()[:40]
    problem = translate(lang, f"books.error.{field}", value=shown)
    detail = translate(lang, "books.error.line", line=line, problem=problem)
    return GatewayError(errors.BOOKS_ROW_UNREADABLE, detail)


def _column_map(header: list[str]) -> dict[str, int]:
    # "Сумма, ₸" and "Сумма (тенге)" name the total: what follows a comma or a bracket is a unit.
    names = [_NORMAL.sub("", re.split(r"[,(]", str(h or ""))[0].strip().lower()) for h in header]
    found: dict[str, int] = {}
    for column, aliases in ALIASES.items():
        for alias in (column.replace("_", ""), *aliases):
            if alias in names:
                found[column] = names.index(alias)
                break
    missing = [c for c in BOOKS_COLUMNS if c not in found]
    if missing:
        said = {"missing": ", ".join(missing)}
        raise GatewayError(errors.MALFORMED_REQUEST, key="error.books_header", params=said)
    return found


def _decode(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1251"):  # Excel in Russian saves "CSV" as Windows-1251
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise GatewayError(errors.MALFORMED_REQUEST, "the file is neither UTF-8 nor Windows-1251 text")


def csv_rows(lines: Iterable[str], delimiter: str) -> Iterator[list[str]]:
    """csv.reader's rows; a file it cannot split is malformed_request naming the line, never a 500.

    csv refuses a field longer than its field_size_limit (128 KiB) and a line end inside an unquoted field;
    its message says which (up to its hint about Python's file modes, which means nothing to the reader).
    """
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        yield from reader
    except csv.Error as exc:
        refused = f"the CSV cannot be read at line {reader.line_num}: {str(exc).split(' - ')[0]}"
        raise GatewayError(errors.MALFORMED_REQUEST, refused) from None


def _csv_rows(text: str) -> Iterator[list[Any]]:
    first = text.split("\n", 1)[0]
    delimiter = max((";", ",", "\t"), key=first.count)
    yield from csv_rows(io.StringIO(text), delimiter)


# What openpyxl raises for a workbook it cannot read (ParseError: XML that is not well-formed).
_UNREADABLE = (zipfile.BadZipFile, KeyError, IndexError, ValueError, TypeError, OSError, ParseError)


def workbook_rows(raw: bytes) -> Iterator[list[Any]]:
    """The rows of an XLSX workbook's first sheet (a clear error when it cannot be read)."""
    from openpyxl import load_workbook  # only for workbooks; its import costs ~0.2 s

    check_workbook(raw)  # bounded inflation, no DOCTYPE, no huge cell: openpyxl trusts the file
    try:
        workbook = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except _UNREADABLE:
        raise GatewayError(errors.MALFORMED_REQUEST, UNREADABLE) from None
    try:
        sheet = workbook.worksheets[0]
        # openpyxl pads every row to the sheet's declared dimension and every gap between rows with empty
        # rows: "A1:XFD1048576" made 700 bytes a million rows of 16 384 cells, and a row numbered 10^20
        # padding without end. The dimension is not trusted, and no sheet is longer than Excel's.
        sheet.reset_dimensions()
        for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            if number > MAX_SHEET_ROWS:
                refused = f"a sheet has at most {MAX_SHEET_ROWS} rows, as in Excel"
                raise GatewayError(errors.MALFORMED_REQUEST, refused)
            yield list(row)
    except _UNREADABLE:  # a sheet that is no well-formed XML is found out while reading it
        raise GatewayError(errors.MALFORMED_REQUEST, UNREADABLE) from None
    finally:
        workbook.close()


def _entries(rows: Iterable[list[Any]], lang: str) -> list[BookEntry]:
    iterator = iter(rows)
    header: list[Any] | None = None
    for row in iterator:
        if any(str(v or "").strip() for v in row):
            header = row
            break
    if header is None:
        raise GatewayError(errors.MALFORMED_REQUEST, "the file has no rows")
    at = _column_map([str(h or "") for h in header])
    entries: list[BookEntry] = []
    for number, row in enumerate(iterator, start=2):
        if not any(str(v if v is not None else "").strip() for v in row):
            continue
        cells = {c: row[i] if i < len(row) else None for c, i in at.items()}
        read: dict[str, int] = {}
        for field, reader in _READERS:
            try:
                read[field] = reader(cells[field])
            except (ValueError, GatewayError):
                raise _row_error(lang, number, field, cells[field]) from None
        device = str(cells["device_id"] or "").strip()
        entries.append(BookEntry(read["document_number"], device, read["time"], read["total"]))
        if len(entries) > MAX_BOOK_ROWS:
            raise GatewayError(errors.MALFORMED_REQUEST, f"at most {MAX_BOOK_ROWS} rows per upload")
    if not entries:
        raise GatewayError(errors.MALFORMED_REQUEST, "the file has no rows")
    return entries


def parse_books(raw: bytes | str, lang: str = "en") -> list[BookEntry]:
    """Rows of a books file (CSV in any of the usual dialects, or XLSX); a row's error names its line."""
    if isinstance(raw, str):
        return _entries(_csv_rows(raw.lstrip("\ufeff")), lang)
    if raw[:4] == b"PK\x03\x04":
        return _entries(workbook_rows(raw), lang)
    return _entries(_csv_rows(_decode(raw)), lang)


# Operations whose money leaves the till: books write them as negative amounts (a refund, a purchase).
_MONEY_OUT = frozenset(("SELL_RETURN", "BUY"))


def as_booked(total: int, operation: str, theirs: int | None) -> int:
    """Our receipt's total as the seller's books write it: a refund or a purchase is negative there, unless
    the books write that one positive (the sign of their own row says which)."""
    if operation in _MONEY_OUT and (theirs is None or theirs <= 0):
        return -total
    return total


def _ours(
    client: Any, db: str, tin: str, devices: list[str], since_ms: int, until_ms: int
) -> dict[tuple[str, int], tuple[int, int, str]]:
    rows = client.query(
        f"SELECT device_id, document_number, toUnixTimestamp64Milli(event_time), total, operation"
        f" FROM {db}.receipts"
        " WHERE seller_tin = {tin:String} AND device_id IN {devices:Array(String)}"
        " AND event_time >= fromUnixTimestamp64Milli({since:Int64})"
        " AND event_time < fromUnixTimestamp64Milli({until:Int64})",
        parameters={"tin": tin, "devices": devices, "since": since_ms, "until": until_ms},
    ).result_rows
    return {(str(d), int(n)): (int(t), int(total), str(op)) for d, n, t, total, op in rows}


def _sellers_registers(client: Any, db: str, tin: str, devices: list[str]) -> set[str]:
    """Which of these registers are (or were) registered to the seller."""
    rows = client.query(
        f"SELECT DISTINCT device_id FROM {db}.devices"
        " WHERE seller_tin = {tin:String} AND device_id IN {devices:Array(String)}",
        parameters={"tin": tin, "devices": devices},
    ).result_rows
    return {str(r[0]) for r in rows}


def covered_days(
    books: list[BookEntry], day: dt.date | None, since: dt.date | None, until: dt.date | None
) -> tuple[dt.date, dt.date]:
    """The local days compared: the range the user picked, else the file's first to last day (and day)."""
    days = [local_day(b.time_ms) for b in books] + ([day] if day else [])
    first, last = since or min(days), until or max(days)
    if last < first:
        raise GatewayError(errors.MALFORMED_REQUEST, key="error.until_before_since")
    if (last - first).days >= MAX_RANGE_DAYS:
        raise GatewayError(errors.MALFORMED_REQUEST, f"compare at most {MAX_RANGE_DAYS} days at once")
    return first, last


def compare_books(
    client: Any,
    db: str,
    principal: Principal,
    tin: str | None,
    books: list[BookEntry],
    *,
    day: dt.date | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    """Match the books against our receipts of the registers and days they cover, by (device, document)."""
    seller = require_tin(principal, tin)
    if status is not None and status not in STATUSES:
        said = {"statuses": ", ".join(STATUSES)}
        raise GatewayError(errors.MALFORMED_REQUEST, key="error.status_one_of", params=said)
    first, last = covered_days(books, day, since, until)
    since_ms, until_ms = day_range_ms(first, last)
    named = sorted({b.device_id for b in books})
    # A register that is not the seller's (a typo, or someone else's) is named as such and left out: its
    # rows are not receipts "missing on our side". Whether it exists for another seller is not said.
    # A set: a file naming 40,000 registers nobody knows took 19 s as a list (each row looked through it).
    strangers = set(named) - _sellers_registers(client, db, seller, named)
    not_yours = [b for b in books if b.device_id in strangers]
    in_range = [b for b in books if since_ms <= b.time_ms < until_ms and b.device_id not in strangers]
    devices = sorted({b.device_id for b in in_range})
    ours = _ours(client, db, seller, devices, since_ms, until_ms) if devices else {}
    theirs = {(b.device_id, b.document_number): b for b in in_range}
    rows: list[dict[str, Any]] = []
    for key in set(ours) | set(theirs):
        our, their = ours.get(key), theirs.get(key)
        our_total = as_booked(our[1], our[2], their.total if their else None) if our else None
        if our_total is not None and their is not None:
            row_status = "matched" if our_total == their.total else "amount_differs"
        else:
            row_status = "missing_on_our_side" if our is None else "missing_in_your_books"
        rows.append(
            {
                "status": row_status,
                "device_id": key[0],
                "document_number": key[1],
                "operation": our[2] if our else None,  # what our receipt says it was (None: we have none)
                "our_time_ms": our[0] if our else None,
                "their_time_ms": their.time_ms if their else None,
                "our_total": our_total,
                "their_total": their.total if their else None,
                "difference": (our_total - their.total) if our_total is not None and their else None,
            }
        )
    order = {s: i for i, s in enumerate(STATUSES)}
    rows.sort(key=lambda r: (order[r["status"]], r["device_id"], r["document_number"]))
    counts = dict.fromkeys(STATUSES, 0)
    for row in rows:
        counts[row["status"]] += 1
    return {
        "seller_tin": seller,
        "covers": {
            "devices": devices,
            "since": first.isoformat(),
            "until": last.isoformat(),
            "file_rows": len(books),
            "outside_range": len(books) - len(in_range) - len(not_yours),
            "not_sellers_registers": sorted(strangers),
            "not_sellers_rows": len(not_yours),
        },
        "days": [(first + dt.timedelta(days=n)).isoformat() for n in range((last - first).days + 1)],
        "summary": counts,
        "status": status,
        "rows": [r for r in rows if status is None or r["status"] == status],
    }


def _table(
    result: dict[str, Any], lang: str, money: Any, for_people: bool = True, when: Any = local_iso,
    number: Any = int,
) -> list[list[Any]]:
    header = [translate(lang, f"books.column.{c}", tz=TZ_LABEL) if for_people else c for c in RESULT_COLUMNS]
    body = [
        [
            translate(lang, f"books.status.{r['status']}") if for_people else r["status"],
            r["device_id"],
            number(r["document_number"]),
            operation_text(r["operation"] or "", lang) if for_people else (r["operation"] or ""),
            when(r["our_time_ms"]),
            when(r["their_time_ms"]),
            money(r["our_total"]),
            money(r["their_total"]),
            money(r["difference"]),
        ]
        for r in result["rows"]
    ]
    return [header, *body]


def _excel_time(ms: int | None) -> dt.datetime | None:
    # Excel has no time zones: a local date-time cell (the header names the zone), which it sorts and sums.
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, LOCAL_TZ).replace(tzinfo=None)


_EXCEL_DIGITS = 10**15


def _excel_number(number: int) -> int | str:
    # Excel keeps 15 significant digits (openpyxl writes a float): a longer number would read 1E+23, so it
    # goes as text, exact; the ordinary ones stay numbers Excel sorts and filters.
    return number if abs(number) < _EXCEL_DIGITS else str(number)


def comparison_csv(result: dict[str, Any], lang: str = "en", dialect: CsvDialect = RFC) -> str:
    """The comparison as CSV, differences first (money in tenge with two decimals in the dialect)."""
    return dialect.write(_table(result, lang, dialect.money, dialect.for_people))


def comparison_xlsx(result: dict[str, Any], lang: str = "en") -> bytes:
    """The comparison as an Excel workbook (amounts as numbers, so Excel can sum them)."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(translate(lang, "books.sheet")[:31])
    for row in _table(result, lang, lambda minor: None if minor is None else decimal.Decimal(minor) / 100,
                      when=_excel_time, number=_excel_number):
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()

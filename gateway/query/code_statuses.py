"""Many codes at once: each one's status and a summary of its history, as the marking operator's cabinet does.

A file of codes (one a line, as scanners export them, or the first column of a CSV/XLSX) is answered in
one pass: three queries for the whole list, not one per code. A retailer sees the codes it owns or handled;
any other code is "not_visible", as in a trace.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from typing import Any

from gateway import errors
from gateway.auth.tokens import Principal
from gateway.errors import GatewayError
from gateway.i18n import translate
from gateway.query.books import csv_rows, workbook_rows
from gateway.query.csv_dialect import RFC, CsvDialect
from gateway.query.local_time import local_iso
from gateway.query.scoping import scope_for
from gateway.query.trace import MAX_CODE_CHARS, identify

MAX_CODES = 10_000
SHOWN_CHARS = 40  # of a cell longer than any code: what the answer shows of it
# Why a code is unreadable: a stable code the pages say in the reader's words (catalogue "error.<reason>").
REASONS = ("not_a_code", "code_needed")
CSV_COLUMNS = (
    "input",
    "cis",
    "gtin",
    "status",
    "registry_status",
    "sales",
    "returns",
    "last_event",
    "last_event_time",
    "anomalies",
    "error",
)


# The first line may be a header naming the column.
HEADERS = frozenset(("code", "codes", "cis", "marking_code", "marking code", "код", "коды", "код маркировки"))
# Line ends only: str.splitlines() would also split at GS (0x1D), which is part of a scanned code.
_LINE_END = re.compile(r"\r\n|\n|\r")
# The visible symbol some exports write for GS, read as GS (the parser reads "\u001d" and "\x1d" too).
GS_SYMBOL = "\u241d"


def _cells_of_lines(text: str) -> Iterator[str]:
    # A code is the whole line: ',', ';' and '"' are legal GS1 characters inside a serial. A tab is not
    # (a spreadsheet's copied rows): the code is the first cell. A line opening with '"' is CSV-quoted.
    for line in _LINE_END.split(text):
        cell = line.split("\t", 1)[0]
        # Quoted, a code takes at most twice its length and two: a longer cell is too long as it stands
        # (and csv refuses a field past 128 KiB).
        if cell.startswith('"') and len(cell) <= 2 * MAX_CODE_CHARS + 2:
            cell = next(csv.reader([cell]), [""])[0]
        yield cell


def _cells_of_csv(text: str) -> Iterator[str]:
    first = _LINE_END.split(text, 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    for row in csv_rows(io.StringIO(text, newline=""), delimiter):
        yield row[0] if row else ""


def codes_of_upload(raw: bytes, *, as_csv: bool = False) -> list[str]:
    """The codes of an upload: one a line (the whole line), a CSV file's or a workbook's first column."""
    if raw[:4] == b"PK\x03\x04":
        rows = workbook_rows(raw)
        cells: Iterable[str] = (str(row[0]) if row and row[0] is not None else "" for row in rows)
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            refused = "the codes file must be UTF-8 text or XLSX"
            raise GatewayError(errors.MALFORMED_REQUEST, refused) from None
        cells = _cells_of_csv(text) if as_csv else _cells_of_lines(text)
    return codes_of_cells(cells)


def codes_of_cells(cells: Iterable[str]) -> list[str]:
    """Codes from cells: blanks and a header in the first line skipped, GS kept (its symbol read as GS)."""
    codes: list[str] = []
    for n, cell in enumerate(cells):
        code = cell.strip(" \t\u00a0\ufeff").replace(GS_SYMBOL, "\x1d")
        if not code or (n == 0 and code.lower() in HEADERS):
            continue
        codes.append(code)
        if len(codes) > MAX_CODES:
            raise GatewayError(errors.MALFORMED_REQUEST, f"at most {MAX_CODES} codes at once")
    if not codes:
        raise GatewayError(errors.MALFORMED_REQUEST, "the file holds no codes (one code a line)")
    return codes


def _too_long(code: str) -> dict[str, Any]:
    """A cell longer than any code, shown by its start: the answer never grows with what was uploaded (a
    15 MiB line, a workbook cell inflated to 200 MiB were echoed whole)."""
    error = f"{len(code)} characters: a marking code has at most {MAX_CODE_CHARS}"
    return {"input": code[:SHOWN_CHARS] + "…", "cis": "", "gtin": "", "error": error}


def code_statuses(client: Any, db: str, principal: Principal, codes: list[str]) -> dict[str, Any]:
    """Each code's status and history summary, in the order given; unreadable codes say why."""
    scope = scope_for(principal)
    where, params = scope.where("seller_tin")
    idents: list[dict[str, Any]] = []
    for code in codes:
        if len(code) > MAX_CODE_CHARS:
            idents.append(_too_long(code))
            continue
        try:
            idents.append(identify(code))
        except GatewayError as exc:
            reason = (exc.key or "").removeprefix("error.")
            idents.append({"input": code, "cis": "", "gtin": "", "error": exc.detail,
                           "reason": reason if reason in REASONS else ""})
    cis_list = sorted({i["cis"] for i in idents if i["cis"]})
    params["cis_list"] = cis_list
    registry = (
        {
            str(r[0]): (str(r[1]), str(r[2]))
            for r in client.query(
                f"SELECT cis, owner_tin, status FROM {db}.code_registry FINAL"
                " WHERE cis IN {cis_list:Array(String)}",
                parameters={"cis_list": cis_list},
            ).result_rows
        }
        if cis_list
        else {}
    )
    history = (
        {
            str(r[0]): (int(r[1]), int(r[2]), str(r[3]), int(r[4]))
            for r in client.query(
                "SELECT cis, countIf(kind = 'sale'), countIf(kind = 'return'),"
                " argMaxIf(kind, (event_time, seq), kind IN ('sale', 'return')),"
                " toUnixTimestamp64Milli(maxIf(event_time, kind IN ('sale', 'return')))"
                f" FROM {db}.code_events WHERE cis IN {{cis_list:Array(String)}} AND {where} GROUP BY cis",
                parameters=params,
            ).result_rows
        }
        if cis_list
        else {}
    )
    anomalies = (
        {
            str(r[0]): int(r[1])
            for r in client.query(
                f"SELECT cis, count() FROM {db}.anomalies WHERE cis IN {{cis_list:Array(String)}} AND {where}"
                " GROUP BY cis",
                parameters=params,
            ).result_rows
        }
        if cis_list
        else {}
    )
    items = []
    for ident in idents:
        cis = ident["cis"]
        item: dict[str, Any] = {
            "input": ident["input"],
            "cis": cis,
            "gtin": ident.get("gtin", ""),
            "error": ident.get("error", "") if not cis else "",
            "reason": ident.get("reason", "") if not cis else "",
        }
        if not cis:
            items.append({**item, "status": "unreadable"})
            continue
        owner, registry_status = registry.get(cis, ("", ""))
        sales, returns, last, last_ms = history.get(cis, (0, 0, "", 0))
        visible = scope.seller_tin is None or cis in history or (owner and owner == scope.seller_tin)
        if not visible:
            items.append({**item, "status": "not_visible"})
            continue
        if last == "sale":
            status = "sold"
        elif last == "return":
            status = "returned"
        else:
            status = registry_status or "unknown"
        items.append(
            {
                **item,
                "status": status,
                "registry_status": registry_status,
                "sales": sales,
                "returns": returns,
                "last_event": last,
                "last_event_ms": last_ms or None,
                "anomalies": anomalies.get(cis, 0),
            }
        )
    counts: dict[str, int] = {}
    for item in items:
        counts[item["status"]] = counts.get(item["status"], 0) + 1
    return {"items": items, "counts": counts}


def statuses_csv(result: dict[str, Any], dialect: CsvDialect = RFC, lang: str = "en") -> str:
    """The answer as CSV, one code a row in the order given (statuses in the reader's words for people)."""

    def words(prefix: str, value: Any) -> Any:
        return translate(lang, prefix + str(value)) if value and dialect.for_people else value

    def why(item: dict[str, Any]) -> str:
        reason = item.get("reason")
        return translate(lang, "error." + reason) if reason and dialect.for_people else item.get("error", "")

    rows: list[list[Any]] = [dialect.header(lang, "csv.codes.", CSV_COLUMNS)]
    for i in result["items"]:
        rows.append(
            [
                i["input"],
                i["cis"],
                i["gtin"],
                words("code_status.", i["status"]),
                words("registry_status.", i.get("registry_status", "")),
                i.get("sales", ""),
                i.get("returns", ""),
                words("event.", i.get("last_event", "")),
                local_iso(i.get("last_event_ms")),
                i.get("anomalies", ""),
                why(i),
            ]
        )
    return dialect.write(rows)

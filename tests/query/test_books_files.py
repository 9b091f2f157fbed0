"""Books files as people have them: `;` or `,`, UTF-8 or Windows-1251, Russian/Kazakh headers, XLSX."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import Workbook, load_workbook

from gateway.errors import GatewayError
from gateway.query.books import BookEntry, comparison_csv, comparison_xlsx, covered_days, parse_books
from gateway.query.csv_dialect import dialect_for
from gateway.query.local_time import parse_time

LOCAL_0930 = parse_time("2026-01-15T09:30:00+05:00")


def test_excel_in_russian_semicolons_windows_1251_local_dates_decimal_comma() -> None:
    text = "\ufeffНомер чека;Касса;Дата и время;Сумма, тг\r\n17;KKM-1;15.01.2026 09:30;1 234,50\r\n\r\n"
    [entry] = parse_books(text.replace("\ufeff", "").encode("cp1251"))
    assert entry == BookEntry(17, "KKM-1", LOCAL_0930 or 0, 123450)


def test_kazakh_headers_and_utf8_with_bom() -> None:
    text = "Құжат нөмірі,Касса,Уақыт,Сома\n18,KKM-1,2026-01-15 09:30,89.90\n"
    [entry] = parse_books(("\ufeff" + text).encode())
    assert (entry.document_number, entry.total, entry.time_ms) == (18, 8990, LOCAL_0930)


def test_an_excel_workbook_with_real_dates_and_numbers() -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["№ чека", "ККМ", "Дата", "Итого"])
    sheet.append([19, "KKM-1", dt.datetime(2026, 1, 15, 9, 30), 1500.5])
    sheet.append([20.0, "KKM-1", "15.01.2026 09:30", "-15"])
    out = io.BytesIO()
    workbook.save(out)
    first, second = parse_books(out.getvalue())
    assert (first.document_number, first.time_ms, first.total) == (19, LOCAL_0930, 150050)
    assert (second.document_number, second.total) == (20, -1500)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("doc,total\n1,2\n", "missing: device_id, time"),
        ("document_number,device_id,time,total\n1,K,2026-01-15,12.345\n", "line 2: the total '12.345'"),
        ("document_number,device_id,time,total\n1,K,yesterday,1\n", "line 2: the time 'yesterday' is not"),
        ("document_number,device_id,time,total\n", "no rows"),
    ],
)
def test_a_bad_file_is_a_clear_error_naming_the_line(text: str, says: str) -> None:
    with pytest.raises(GatewayError) as refused:
        parse_books(text.encode())
    assert says in str(refused.value.detail)


@pytest.mark.parametrize(
    ("lang", "says"),
    [
        ("en", "line 3: the document number 'abc' is not a whole number"),
        ("ru", "строка 3: номер документа «abc» — не целое число"),
        ("kk", "3-жол: «abc» құжат нөмірі бүтін сан емес"),
    ],
)
def test_a_document_number_that_is_no_number_is_named_in_the_readers_language(lang: str, says: str) -> None:
    text = "document_number,device_id,time,total\n1,K,2026-01-15,1\nabc,K,yesterday,lots\n"
    with pytest.raises(GatewayError) as refused:
        parse_books(text.encode(), lang)
    assert refused.value.error.code == "books_row_unreadable" and refused.value.detail == says
    assert "int()" not in refused.value.detail


def test_a_document_number_too_big_for_a_float_stays_exact() -> None:
    [entry] = parse_books(b"document_number,device_id,time,total\n99999999999999999999999,K,2026-01-15,1\n")
    assert entry.document_number == 99999999999999999999999


def test_a_broken_workbook_is_refused_clearly() -> None:
    with pytest.raises(GatewayError, match="cannot be read"):
        parse_books(b"PK\x03\x04 not really a zip")


def test_the_days_compared_are_the_files_or_the_chosen_ones() -> None:
    books = [BookEntry(1, "K", LOCAL_0930 or 0, 1), BookEntry(2, "K", (LOCAL_0930 or 0) + 3 * 86_400_000, 1)]
    assert covered_days(books, None, None, None) == (dt.date(2026, 1, 15), dt.date(2026, 1, 18))
    assert covered_days(books, None, dt.date(2026, 1, 16), None) == (
        dt.date(2026, 1, 16),
        dt.date(2026, 1, 18),
    )
    with pytest.raises(GatewayError, match="The end of the period must come after its start"):
        covered_days(books, None, dt.date(2026, 2, 1), dt.date(2026, 1, 1))


def test_the_comparison_for_excel_in_russian_and_as_a_workbook() -> None:
    result = {
        "rows": [
            {
                "status": "amount_differs",
                "device_id": "K",
                "document_number": 7,
                "operation": "SELL_RETURN",
                "our_time_ms": LOCAL_0930,
                "their_time_ms": LOCAL_0930,
                "our_total": 150000,
                "their_total": 150700,
                "difference": -700,
            },
        ]
    }
    text = comparison_csv(result, "ru", dialect_for("excel", "ru"))
    assert text.startswith("\ufeffСтатус;Касса;Номер документа;")
    assert "сумма расходится;K;7;возврат продажи;2026-01-15T09:30:00+05:00;" in text and ";-7,00" in text
    scripts = comparison_csv(result)  # for scripts: the operation as its code
    assert scripts.startswith("status,device_id,document_number,operation,our_time")
    assert ",SELL_RETURN," in scripts
    sheet = load_workbook(io.BytesIO(comparison_xlsx(result, "kk"))).active
    assert sheet.cell(1, 1).value == "Мәртебесі" and sheet.cell(2, 9).value == -7
    assert sheet.cell(2, 4).value == "сатуды қайтару"
    # Times are Excel date-times (local, the header names the zone), not text Excel cannot sort.
    assert sheet.cell(1, 6).value == "Сіздің уақыт (UTC+5)"
    assert sheet.cell(2, 6).value == dt.datetime(2026, 1, 15, 9, 30) and sheet.cell(2, 6).is_date


def test_a_document_number_too_long_for_excel_stays_exact_in_the_workbook() -> None:
    row = {"status": "missing_ours", "device_id": "K", "operation": None, "our_time_ms": None,
           "their_time_ms": LOCAL_0930,
           "our_total": None, "their_total": 100, "difference": -100}
    result = {"rows": [{**row, "document_number": 99999999999999999999999},
                       {**row, "document_number": 2**53 + 1}, {**row, "document_number": 17}]}
    sheet = load_workbook(io.BytesIO(comparison_xlsx(result))).active
    # Excel keeps 15 digits: longer numbers are text (not 1E+23), a usual one stays a number it can sort.
    assert [sheet.cell(r, 3).value for r in (2, 3, 4)] == ["99999999999999999999999", str(2**53 + 1), 17]

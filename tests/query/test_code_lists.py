"""A file of codes is read as scanners export them: one whole code a line, GS and , ; " kept inside."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook

from gateway.errors import GatewayError
from gateway.query.code_statuses import MAX_CODES, codes_of_upload

GS = "\x1d"
# Serials with the GS1 characters a CSV reader would cut at (from the demo's registry).
SCANNED = [
    f"010487010100002721iWYD<x{GS}93wGBI",
    f"010487010100002721,Tv/h-{GS}93rDlV",
    "010487010100015721woDu58?NG8C;u",
    '010487010100002721.FEBQ"',
]


def test_one_whole_code_a_line_with_its_gs_and_punctuation() -> None:
    assert codes_of_upload(("\n".join(SCANNED) + "\r\n").encode()) == SCANNED


def test_gs_written_as_text_or_its_symbol_stays_in_the_code() -> None:
    codes = codes_of_upload(
        "010487010100002721abc\\u001d93wGBI\n010487010100002721abc\u241d93wGBI\n".encode()
    )
    assert codes == ["010487010100002721abc\\u001d93wGBI", f"010487010100002721abc{GS}93wGBI"]


def test_a_header_a_tab_separated_row_and_a_quoted_line() -> None:
    text = 'code\n010487010100002721abc\tShoes\t1\n"010487010100002721a,""b"\n\n'
    assert codes_of_upload(text.encode()) == ["010487010100002721abc", '010487010100002721a,"b']


def test_a_csv_file_is_read_as_csv_with_its_quotes() -> None:
    text = f'code;name\n"{SCANNED[2]}";Shoes\n{SCANNED[0]};Boots\n'
    assert codes_of_upload(text.encode(), as_csv=True) == [SCANNED[2], SCANNED[0]]
    text = f'code,name\n"{SCANNED[1]}",Shoes\n'
    assert codes_of_upload(text.encode(), as_csv=True) == [SCANNED[1]]


def test_a_workbooks_first_column_keeps_whole_codes() -> None:
    # A workbook cannot hold the GS character itself (XML forbids it): exports write it as text.
    codes = [SCANNED[2], SCANNED[3], "010487010100002721,Tv/h-\\u001d93rDlV"]
    workbook = Workbook()
    for code in codes:
        workbook.active.append([code, "name"])
    out = io.BytesIO()
    workbook.save(out)
    assert codes_of_upload(out.getvalue()) == codes


def test_the_limit_counts_codes_not_their_parts() -> None:
    full = "\n".join(f"010487010100002721s{n:06d}{GS}93abcd" for n in range(MAX_CODES))
    assert len(codes_of_upload(full.encode())) == MAX_CODES
    with pytest.raises(GatewayError, match=f"at most {MAX_CODES}"):
        codes_of_upload((full + "\n010487010100002721x").encode())

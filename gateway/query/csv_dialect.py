"""CSV as the reader's spreadsheet expects it: Excel in Russian or Kazakh wants `;` and a decimal comma."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gateway import errors
from gateway.errors import GatewayError
from gateway.i18n import translate

BOM = "\ufeff"  # Excel reads UTF-8 only when the file starts with it


@dataclass(frozen=True)
class CsvDialect:
    """Separator, decimal mark, whether a BOM starts the file, and whether headers are for people.

    rfc is for scripts: stable column names and status tokens; excel is for people: their language.
    """

    delimiter: str = ","
    decimal: str = "."
    bom: bool = False
    for_people: bool = False

    def header(self, lang: str, prefix: str, columns: tuple[str, ...]) -> list[str]:
        """Column names: translated (prefix + column) for people, as they are for scripts."""
        return [translate(lang, prefix + c) if self.for_people else c for c in columns]

    def money(self, minor: int | None) -> str:
        """Tenge with two decimals in this dialect ('' for None); no thousands separator."""
        if minor is None:
            return ""
        sign = "-" if minor < 0 else ""
        return f"{sign}{abs(minor) // 100}{self.decimal}{abs(minor) % 100:02d}"

    def write(self, rows: Iterable[list[Any]], *, start: bool = True) -> str:
        """Rows as CSV text in this dialect (the BOM first when start and the dialect has one)."""
        out = io.StringIO()
        writer = csv.writer(out, delimiter=self.delimiter)
        for row in rows:
            writer.writerow(row)
        return (BOM if start and self.bom else "") + out.getvalue()


RFC = CsvDialect()


def dialect_for(name: str | None, lang: str) -> CsvDialect:
    """rfc (default: `,` and `.`, no BOM, column names as in the API, for scripts) or excel (as Excel in the
    reader's language reads it, headers in that language)."""
    if not name or name == "rfc":
        return RFC
    if name == "excel":
        return CsvDialect(",", ".", True, True) if lang == "en" else CsvDialect(";", ",", True, True)
    raise GatewayError(errors.MALFORMED_REQUEST, "dialect must be rfc or excel")

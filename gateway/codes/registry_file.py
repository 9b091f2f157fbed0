"""The operator's registry of emitted codes as files: CSV (with a header) or JSON lines, read streaming.

Columns (names are case-insensitive; aliases in brackets): code [raw_code] or cis, gtin, owner_tin
[owner, tin, owner_inn, inn], product_group [group], status (emitted | applied | introduced | retired |
withdrawn | written_off | blocked; default introduced), expires_on [expiry, expires, expiry_date]
(YYYY-MM-DD, empty for none). A code is parsed with the ingest validator (so cis, GTIN and group are
exactly what ingest derives); a bare cis must parse to itself.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from gateway.codes.parser import validate_code
from gateway.codes.status_index import STATUSES

DEFAULT_STATUS = "introduced"
_ALIASES = {
    "code": "code", "raw_code": "code", "cis": "cis", "gtin": "gtin",
    "owner_tin": "owner_tin", "owner": "owner_tin", "tin": "owner_tin", "owner_inn": "owner_tin",
    "inn": "owner_tin", "product_group": "product_group", "group": "product_group", "status": "status",
    "expires_on": "expires_on", "expiry": "expires_on", "expires": "expires_on", "expiry_date": "expires_on",
}
_EPOCH = dt.date(1970, 1, 1)


class RegistryRowError(ValueError):
    """One input row that cannot be imported, with its 1-based line number."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass(frozen=True, slots=True)
class RegistryRow:
    """One code of the registry, normalised."""

    cis: str
    gtin: str
    owner_tin: str
    product_group: str
    status: str
    expires_on: dt.date | None
    raw_code: str

    @property
    def expires_day(self) -> int:
        """Days since 1970-01-01 of the expiry, 0 when there is none."""
        return (self.expires_on - _EPOCH).days if self.expires_on else 0

    def to_json(self) -> dict[str, str]:
        """The JSON-lines form (what the CLI sends to the gateway; read back by normalise_record)."""
        return {
            "code": self.raw_code, "cis": self.cis, "gtin": self.gtin, "owner_tin": self.owner_tin,
            "product_group": self.product_group, "status": self.status,
            "expires_on": self.expires_on.isoformat() if self.expires_on else "",
        }


def normalise_record(fields: dict[str, object], line: int) -> RegistryRow:
    """A registry row from one record's fields; raises RegistryRowError saying what is wrong."""
    values: dict[str, str] = {}
    for name, value in fields.items():
        canonical = _ALIASES.get(str(name).strip().lower())
        if canonical and value is not None and str(value).strip():
            values.setdefault(canonical, str(value) if canonical == "code" else str(value).strip())
    raw = values.get("code", "")
    given_cis = values.get("cis", "")
    if not raw and not given_cis:
        raise RegistryRowError(line, "neither code nor cis")
    result = validate_code(raw or given_cis)
    if not result.cis:
        what = "code" if raw else "cis"
        raise RegistryRowError(line, f"{what} has no cis: {result.error}: {result.detail}")
    if raw and given_cis and given_cis != result.cis:
        raise RegistryRowError(line, f"cis {given_cis!r} is not the code's cis {result.cis!r}")
    if not raw and result.cis != given_cis:
        raise RegistryRowError(line, f"cis {given_cis!r} does not parse to itself")
    status = values.get("status", DEFAULT_STATUS).lower()
    if status not in STATUSES or not status:
        raise RegistryRowError(line, f"unknown status {status!r}")
    expires_on = None
    if values.get("expires_on"):
        try:
            expires_on = dt.date.fromisoformat(values["expires_on"][:10])
        except ValueError:
            raise RegistryRowError(line, f"expiry {values['expires_on']!r} is not YYYY-MM-DD") from None
    gtin = values.get("gtin") or result.gtin or ""
    if result.gtin and gtin != result.gtin:
        raise RegistryRowError(line, f"gtin {gtin} is not the code's GTIN {result.gtin}")
    return RegistryRow(
        cis=result.cis, gtin=gtin, owner_tin=values.get("owner_tin", ""),
        product_group=values.get("product_group") or result.group or "", status=status,
        expires_on=expires_on, raw_code=raw,
    )


def read_registry(source: BinaryIO) -> Iterator[RegistryRow | RegistryRowError]:
    """Rows of a CSV (header first; ',' ';' or tab) or JSON-lines file, in order, in constant memory."""
    # newline="": lines end at \n (or \r\n) only; a str.splitlines()-style reader would split on GS.
    text = io.TextIOWrapper(source, encoding="utf-8-sig", newline="")
    first = text.readline()
    while first and not first.strip():
        first = text.readline()
    if not first:
        return
    if first.lstrip().startswith("{"):
        yield from _json_lines(first, text)
        return
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.DictReader(_lines(first, text), delimiter=delimiter)
    for number, record in enumerate(reader, start=2):
        try:
            yield normalise_record(dict(record), number)
        except RegistryRowError as exc:
            yield exc


def _lines(first: str, text: io.TextIOWrapper) -> Iterator[str]:
    yield first
    yield from text


def _json_lines(first: str, text: io.TextIOWrapper) -> Iterator[RegistryRow | RegistryRowError]:
    for number, line in enumerate(_lines(first, text), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line, strict=False)  # a raw GS inside a string is kept
        except ValueError:
            yield RegistryRowError(number, "not a JSON object")
            continue
        if not isinstance(record, dict):
            yield RegistryRowError(number, "not a JSON object")
            continue
        try:
            yield normalise_record(record, number)
        except RegistryRowError as exc:
            yield exc

"""Times as sellers read them: Kazakhstan's one time zone (UTC+5), local days, dates people type.

Kazakhstan has kept a single zone, UTC+5 with no summer time, since 1 March 2024; a fixed offset (not a
tz database name) is used so an old tz database on a server cannot shift a day. A shift closed at 00:30
local time belongs to that local day, although it is still the day before in UTC.
"""

from __future__ import annotations

import datetime as dt
import re

from gateway import errors
from gateway.errors import GatewayError

LOCAL_TZ = dt.timezone(dt.timedelta(hours=5), "UTC+5")
TZ_LABEL = "UTC+5"
DAY_MS = 86_400_000
LATEST_MS = 4_102_444_800_000  # 2100-01-01: later (or before 1970) is a typing error, not a time
# Dates as people type them in Kazakhstan (and Excel writes them): 15.01.2026, 15.01.2026 09:30[:15].
_DOTTED = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


def parse_time(value: str | None, *, name: str = "time") -> int | None:
    """ms since 1970 of a date/time; without a zone it is local time (UTC+5); None if empty.

    Accepts ISO 8601 (2026-01-15, 2026-01-15T09:00, …Z, …+06:00), 15.01.2026 [09:00], or ms since 1970.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return _believable(int(text), name, text)
    dotted = _DOTTED.match(text)
    try:
        if dotted:
            day, month, year, hour, minute, second = (int(g) if g else 0 for g in dotted.groups())
            parsed = dt.datetime(year, month, day, hour, minute, second)
        else:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        said = {"name": name, "value": text[:40]}
        raise GatewayError(errors.MALFORMED_REQUEST, key="error.field_not_a_time", params=said) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=LOCAL_TZ)
    return _believable(int(parsed.timestamp() * 1000), name, text)


def _believable(ms: int, name: str, text: str) -> int:
    if not 0 <= ms < LATEST_MS:
        said = {"name": name, "value": text[:40]}
        raise GatewayError(errors.MALFORMED_REQUEST, key="error.field_years", params=said)
    return ms


def local_day(ms: int) -> dt.date:
    """The local calendar day of an instant."""
    return dt.datetime.fromtimestamp(ms / 1000, LOCAL_TZ).date()


def day_start_ms(day: dt.date) -> int:
    """The instant a local day starts."""
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ).timestamp() * 1000)


def day_range_ms(first: dt.date, last: dt.date | None = None) -> tuple[int, int]:
    """[start of first, end of last) as ms: local days, last defaulting to first."""
    return day_start_ms(first), day_start_ms(last or first) + DAY_MS


def local_iso(ms: int | None) -> str:
    """An instant as local ISO time with its offset ('' for None): 2026-01-15T14:30:00+05:00."""
    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, LOCAL_TZ).isoformat(timespec="seconds")


def local_text(ms: int | None) -> str:
    """An instant as local 'YYYY-MM-DD HH:MM:SS' ('' for None), for terminal tables and CSV."""
    if ms is None or ms == 0:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S")

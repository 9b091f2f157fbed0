"""OFD values in our contract's units and back: money, times without a zone, tax percents, enum numbers.

- Money: bills (tenge) + coins (tiyn) -> tiyn. Beyond what int64 holds (no register sends that) is clamped,
  and sums of amounts saturate (plus), so no value a register can send makes a document unstorable.
- DateTime: the register's local time, no zone -> ms UTC with the installation's offset (Kazakhstan:
  UTC+5); a date that does not exist (month 13) -> None: the caller records it (content is never refused).
- Tax percent: thousandths of a percent -> basis points (12000 -> 1200).
- OperationType and PaymentType: ours = OFD + 1.
"""

from __future__ import annotations

import datetime as dt
from typing import cast

from gateway.wire import ofd_pb2, pb

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1
_EPOCH = dt.datetime(1970, 1, 1)


def plus(total: int, amount: int) -> int:
    """total + amount within int64: an absurd amount a register sends (up to 2^64 tenge) saturates the
    sums it goes into instead of failing to be stored."""
    # Compared, not max(min()): ~30 of these a receipt, and the builtins' calls were most of their cost.
    value = total + amount
    if INT64_MIN <= value <= INT64_MAX:
        return value
    return INT64_MAX if value > 0 else INT64_MIN


def count_plus(count: int, more: int) -> int:
    """count + more within uint32 (counts of documents)."""
    value = count + more
    if 0 <= value <= UINT32_MAX:
        return value
    return UINT32_MAX if value > 0 else 0


def tiyn(money: ofd_pb2.Money) -> int:
    """An OFD Money in tiyn (minor units)."""
    value = money.bills * 100 + money.coins
    return value if value <= INT64_MAX else INT64_MAX


def money(amount: int) -> ofd_pb2.Money:
    """Tiyn as an OFD Money (which has no sign: a negative amount is given as its magnitude)."""
    bills, coins = divmod(abs(amount), 100)
    return ofd_pb2.Money(bills=bills, coins=coins)


def local_ms(value: ofd_pb2.DateTime, offset_min: int) -> int | None:
    """ms UTC of a register's local DateTime, or None when it names no real moment."""
    date, time = value.date, value.time
    try:
        local = dt.datetime(date.year, date.month, date.day, time.hour, time.minute, time.second)
    except (ValueError, OverflowError):
        return None
    return (local - _EPOCH) // dt.timedelta(milliseconds=1) - offset_min * 60_000


def local_datetime(ms: int, offset_min: int) -> ofd_pb2.DateTime:
    """ms UTC as the local DateTime a register reads."""
    local = _EPOCH + dt.timedelta(milliseconds=ms + offset_min * 60_000)
    return ofd_pb2.DateTime(
        date=ofd_pb2.Date(year=local.year, month=local.month, day=local.day),
        time=ofd_pb2.Time(hour=local.hour, minute=local.minute, second=local.second),
    )


def compact_local(ms: int, offset_min: int) -> str:
    """ms UTC as local yyyyMMddTHHmmss (the consumer-check link's t)."""
    return (_EPOCH + dt.timedelta(milliseconds=ms + offset_min * 60_000)).strftime("%Y%m%dT%H%M%S")


def parse_compact_local(text: str, offset_min: int) -> int | None:
    """compact_local read back (ms UTC), or None."""
    try:
        local = dt.datetime.strptime(text, "%Y%m%dT%H%M%S")
    except ValueError:
        return None
    return (local - _EPOCH) // dt.timedelta(milliseconds=1) - offset_min * 60_000


def rate_bp(percent: int) -> int:
    """Thousandths of a percent as basis points, halves up (12000 -> 1200)."""
    return (percent + 5) // 10


def percent(rate: int) -> int:
    """Basis points as thousandths of a percent (1200 -> 12000), within OFD's uint32."""
    return min(rate * 10, UINT32_MAX)


def operation(ofd_operation: int) -> pb.Operation:
    """Our Operation of an OFD OperationType (BUY 0 -> BUY 1 …)."""
    return cast(pb.Operation, ofd_operation + 1)


def payment_type(ofd_payment: int) -> pb.PaymentType:
    """Our PaymentType of an OFD PaymentType (CASH 0 -> CASH 1 …)."""
    return cast(pb.PaymentType, ofd_payment + 1)

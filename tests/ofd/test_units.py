"""OFD sums and counts saturate at their storage limits, exactly at the edges."""

from __future__ import annotations

import pytest

from gateway.ofd import units
from gateway.wire import ofd_pb2

BIG = 2**63


@pytest.mark.parametrize(("total", "amount", "expected"), [
    (1, 2, 3), (BIG - 2, 1, BIG - 1), (BIG - 1, 1, BIG - 1), (BIG - 1, BIG, BIG - 1),
    (-BIG + 1, -1, -BIG), (-BIG, -1, -BIG), (-BIG, BIG - 1, -1), (5, -7, -2),
])
def test_a_sum_saturates_within_int64(total: int, amount: int, expected: int) -> None:
    assert units.plus(total, amount) == expected


@pytest.mark.parametrize(("count", "more", "expected"), [
    (0, 1, 1), (2**32 - 2, 1, 2**32 - 1), (2**32 - 1, 1, 2**32 - 1), (0, -1, 0), (3, -3, 0),
])
def test_a_count_saturates_within_uint32(count: int, more: int, expected: int) -> None:
    assert units.count_plus(count, more) == expected


def test_money_beyond_int64_is_clamped() -> None:
    assert units.tiyn(ofd_pb2.Money(bills=12, coins=34)) == 1234
    assert units.tiyn(ofd_pb2.Money(bills=2**64 - 1, coins=99)) == BIG - 1

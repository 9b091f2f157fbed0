"""The throughput fast paths decide exactly what the full checks decide (speed never changes a verdict)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.codes.status_index import StatusIndex, cis_key
from gateway.ingest.code_verdicts import codes_of
from gateway.ingest.decoding import decode_event_parts
from gateway.ingest.receipt_validation import _receipt_findings, _receipt_is_clean
from gateway.settings import Limits
from gateway.wire import pb

_small = st.integers(min_value=-3, max_value=3)
_amount = st.one_of(st.integers(min_value=-5, max_value=50_000), st.sampled_from([0, 1000, 11_200]))


@st.composite
def receipts(draw: st.DrawFn) -> pb.Receipt:
    """Receipts that are mostly right, with small errors anywhere (each check gets both answers)."""
    receipt = pb.Receipt()
    receipt.operation = draw(st.sampled_from([pb.OPERATION_UNSPECIFIED, pb.SELL, pb.SELL_RETURN, pb.BUY]))
    total = 0
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        price, quantity = draw(_amount), draw(st.sampled_from([1000, 1250, 0, -1000, 333]))
        discount, markup = draw(st.sampled_from([0, 0, 5, -1])), draw(st.sampled_from([0, 0, 7, -2]))
        error = draw(_small) * draw(st.booleans())
        line_sum = (2 * price * quantity + 1000) // 2000 - discount + markup + error
        line = receipt.lines.add(
            price=price, quantity=quantity, discount=discount, markup=markup, sum=line_sum
        )
        for rate in draw(st.lists(st.sampled_from([0, 1200, 1600]), max_size=2)):
            tax_sum = (2 * line_sum * rate + 10_000 + rate) // (2 * (10_000 + rate)) + draw(_small)
            line.taxes.add(tax_type=draw(st.sampled_from([100, 100, 7])), rate_bp=rate, sum=tax_sum)
        total += line_sum
    receipt.total = total + draw(_small) * draw(st.booleans())
    receipt.change = draw(st.sampled_from([0, 0, 10, -1]))
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        receipt.payments.add(type=draw(st.sampled_from([pb.CASH, pb.CARD])), sum=draw(_amount))
    if draw(st.booleans()):
        receipt.payments.add(type=pb.CASH, sum=receipt.total + receipt.change)
    for line in receipt.lines if draw(st.booleans()) else ():
        for tax in line.taxes:
            receipt.taxes.add(tax_type=tax.tax_type, rate_bp=tax.rate_bp, sum=tax.sum + draw(_small))
    if draw(st.booleans()):
        receipt.parent.document_number = draw(st.sampled_from([0, 5]))
    return receipt


@settings(max_examples=300, deadline=None)
@given(receipts())
def test_clean_fast_path_agrees_with_the_full_checks(receipt: pb.Receipt) -> None:
    assert _receipt_is_clean(receipt) == (not list(_receipt_findings(receipt)))


_CODES = ["010460000000001721AB\x1d93dGVz", "plain", "0104600000000017"]


@settings(max_examples=200, deadline=None)
@given(receipts(), st.data())
def test_the_decoded_codes_give_what_the_stages_read_themselves(
    receipt: pb.Receipt, data: st.DataObject
) -> None:
    for line in receipt.lines:
        line.marking_codes.extend(data.draw(st.lists(st.sampled_from(_CODES), max_size=3)))
    event = pb.Event(time_ms=1_700_000_000_000, receipt=receipt)
    decoded = decode_event_parts(pb.Envelope(event=event.SerializeToString()), Limits())
    assert decoded.line_codes == [list(line.marking_codes) for line in decoded.event.receipt.lines]
    parsed = decoded.event
    assert codes_of(parsed, decoded.line_codes) == codes_of(parsed)


def test_located_slots_answer_as_the_per_code_lookups() -> None:
    codes = [f"0104600000000{i:03d}21SERIAL{i}" for i in range(50)]
    keys = np.array([cis_key(c) for c in codes[:30]], np.uint64)
    built = StatusIndex()
    built.load_base(keys, np.full(30, 3, np.uint8), np.zeros(30, np.uint32), np.zeros(30, np.uint16), [""])
    slots = built.locate(codes + codes[:5])  # repeats are located once
    assert len(slots) == 50
    assert [slots[c][1] >= 0 for c in codes] == [True] * 30 + [False] * 20
    for code in codes:
        assert built.state(code, slots[code]) == built.state(code)
    # A sale through a slot (base code and new code) is the same move as one without.
    plain = StatusIndex()
    plain.load_base(keys, np.full(30, 3, np.uint8), np.zeros(30, np.uint32), np.zeros(30, np.uint16), [""])
    for code in (codes[3], codes[40]):
        assert built.record_sale(code, "123456789012", "s1", slots[code]) == plain.record_sale(
            code, "123456789012", "s1"
        )
        assert built.raw(code, slots[code]) == plain.raw(code) is not None

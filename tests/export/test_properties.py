"""Properties: an export of a simulated register verifies, whole or any slice; no byte changes unseen."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.export.report import EXIT_PASS
from tests.export.builders import Life, export_bytes, export_of, failures, live, record_of, verify

lives = st.builds(
    Life,
    shifts=st.integers(min_value=1, max_value=4),
    receipts_per_shift=st.tuples(
        st.integers(min_value=0, max_value=4), st.integers(min_value=4, max_value=12)
    ),
    rotate_every=st.sampled_from([0, 0, 3, 7, 11]),
    gap_every=st.sampled_from([0, 0, 5, 9]),
    buyer_share=st.sampled_from([0.0, 0.1, 0.5]),
    return_share=st.sampled_from([0.0, 0.1, 0.3]),
)
quick = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@quick
@given(life=lives, seed=st.integers(min_value=0, max_value=2**32), every=st.booleans())
def test_every_simulated_history_verifies(life: Life, seed: int, every: bool) -> None:
    lived = live("KKM-PROP", seed, life)
    report = verify(export_of(lived), every_signature=every)
    assert report.exit_status == EXIT_PASS, failures(report)
    assert report.events == len(lived.envelopes)


@quick
@given(life=lives, seed=st.integers(min_value=0, max_value=2**32), data=st.data())
def test_any_slice_of_a_history_verifies(life: Life, seed: int, data: st.DataObject) -> None:
    lived = live("KKM-SLICE", seed, life)
    first = data.draw(st.integers(min_value=0, max_value=len(lived.envelopes) - 1))
    last = data.draw(st.integers(min_value=first, max_value=len(lived.envelopes) - 1))
    chosen = lived.envelopes[first : last + 1]
    report = verify(export_bytes([(record_of(lived, chosen), lived.envelopes)]))
    assert report.exit_status == EXIT_PASS, failures(report)
    assert report.events == len(chosen)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32), data=st.data())
def test_no_byte_of_an_export_changes_unseen(seed: int, data: st.DataObject) -> None:
    exported = export_of(live("KKM-BYTE", seed, Life(shifts=1, rotate_every=5, gap_every=6)))
    offset = data.draw(st.integers(min_value=0, max_value=len(exported) - 1))
    value = data.draw(st.integers(min_value=0, max_value=255).filter(lambda b: b != exported[offset]))
    tampered = exported[:offset] + bytes([value]) + exported[offset + 1 :]
    assert verify(tampered).exit_status != EXIT_PASS

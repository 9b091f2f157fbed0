"""The chain's recent window keeps the newest seqs of a device, whatever order they are remembered in."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.ingest.chain import ChainState


@given(st.lists(st.integers(min_value=1, max_value=40), max_size=60), st.integers(min_value=1, max_value=8))
def test_the_window_holds_the_largest_seqs_remembered(seqs: list[int], size: int) -> None:
    state = ChainState(window=size)
    expected: dict[int, tuple[bytes, str]] = {}
    for number, seq in enumerate(seqs):
        value = (bytes([number % 256]), f"SIGN-{number}")
        state.remember("KKM-1", seq, value[0], value[1], seq + 1)
        expected[seq] = value
        while len(expected) > size:
            del expected[min(expected)]
    assert {seq: state.recent("KKM-1", seq) for seq in range(1, 41) if state.recent("KKM-1", seq)} == expected
    assert state.missing_history("KKM-1", range(1, 41)) == sorted(
        seq for seq in range(1, 41) if seq <= max(seqs, default=0) and seq not in expected
    )


@given(
    st.lists(st.integers(min_value=1, max_value=40), max_size=30),
    st.lists(st.integers(min_value=1, max_value=40), max_size=30),
    st.integers(min_value=1, max_value=8),
)
def test_a_run_is_remembered_as_its_seqs_one_by_one(before: list[int], run: list[int], size: int) -> None:
    one_by_one, at_once = ChainState(window=size), ChainState(window=size)
    for seq in before:
        for state in (one_by_one, at_once):
            state.remember("KKM-1", seq, bytes([seq]), f"SIGN-{seq}", seq + 1)
    accepted = {
        seq: (bytes([seq, number]), f"RUN-{number}", seq + 1 + number % 3) for number, seq in enumerate(run)
    }
    for seq, (envelope_hash, sign, next_seq) in accepted.items():
        one_by_one.remember("KKM-1", seq, envelope_hash, sign, next_seq)
    at_once.remember_run("KKM-1", accepted)
    assert at_once.head("KKM-1") == one_by_one.head("KKM-1")
    assert [at_once.recent("KKM-1", seq) for seq in range(1, 41)] == [
        one_by_one.recent("KKM-1", seq) for seq in range(1, 41)
    ]
    assert at_once.missing_history("KKM-1", range(1, 41)) == one_by_one.missing_history("KKM-1", range(1, 41))

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

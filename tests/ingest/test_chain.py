"""Chain decisions: next seq, duplicates, forks, gaps, gap notices, restore and journal replay."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.ingest.chain import ChainState, Verdict
from gateway.wire import pb, signing
from tests.ingest.conftest import NOW_MS, Register, receipt


def _hash(envelope: pb.Envelope) -> bytes:
    return signing.envelope_hash(
        signing.event_preimage(envelope.device_id, envelope.seq, envelope.prev_hash, envelope.event)
    )


def _accept(state: ChainState, *envelopes: pb.Envelope) -> None:
    cursor = state.cursor(envelopes[0].device_id)
    for envelope in envelopes:
        decision = cursor.decide(envelope, _hash(envelope), None)
        assert decision.verdict is Verdict.ACCEPT, decision
        cursor.accept(envelope.seq, _hash(envelope), f"SIGN-{envelope.seq}", decision.next_seq)
    cursor.commit()


def _gap(first: int, last: int) -> pb.Event:
    return pb.Event(
        time_ms=NOW_MS,
        gap_notice=pb.GapNotice(first_missing_seq=first, last_missing_seq=last, reason="flash"),
    )


def test_a_new_device_starts_at_seq_1_on_the_genesis_hash(register: Register) -> None:
    state = ChainState()
    assert state.head(register.device_id).envelope_hash == signing.genesis_hash(register.device_id)
    _accept(state, *register.run(3))
    head = state.head(register.device_id)
    assert (head.seq, head.envelope_hash, head.next_seq) == (3, register.head, 4)


def test_nothing_moves_until_commit(register: Register) -> None:
    state = ChainState()
    cursor = state.cursor(register.device_id)
    first = register.envelope()
    cursor.accept(1, _hash(first), "S", 2)
    assert cursor.head.seq == 1
    assert state.head(register.device_id).seq == 0
    assert state.recent(register.device_id, 1) is None


def test_resend_is_a_duplicate_with_the_first_fiscal_sign(register: Register) -> None:
    state = ChainState()
    envelopes = register.run(3)
    _accept(state, *envelopes)
    decision = state.cursor(register.device_id).decide(envelopes[1], _hash(envelopes[1]), None)
    assert (decision.verdict, decision.fiscal_sign) == (Verdict.DUPLICATE, "SIGN-2")


def test_same_seq_other_content_is_a_fork_with_a_finding(register: Register) -> None:
    state = ChainState()
    envelopes = register.run(3)
    _accept(state, *envelopes)
    fork = register.envelope(receipt(prices=(1,)), seq=2, prev_hash=envelopes[0].prev_hash, advance=False)
    decision = state.cursor(register.device_id).decide(fork, _hash(fork), None)
    assert decision.verdict is Verdict.REJECT
    assert decision.error is not None and decision.error.code == "chain_fork"
    assert [f.kind for f in decision.findings] == ["chain_fork"]
    assert _hash(envelopes[1]).hex() in decision.findings[0].detail


def test_wrong_prev_hash_and_gaps(register: Register) -> None:
    state = ChainState()
    _accept(state, register.envelope())
    cursor = state.cursor(register.device_id)
    wrong_prev = register.envelope(prev_hash=bytes(32), advance=False)
    decision = cursor.decide(wrong_prev, _hash(wrong_prev), None)
    assert decision.error is not None and decision.error.code == "prev_hash_mismatch"
    ahead = register.envelope(seq=5, advance=False)
    decision = cursor.decide(ahead, _hash(ahead), None)
    assert decision.error is not None and (decision.error.code, decision.error.retryable) == ("seq_gap", True)
    assert "expected seq 2" in decision.detail


def test_a_gap_notice_lets_the_chain_go_on_after_the_lost_range(register: Register) -> None:
    state = ChainState()
    _accept(state, register.envelope())
    notice = register.envelope(_gap(3, 9))
    cursor = state.cursor(register.device_id)
    decision = cursor.decide(notice, _hash(notice), _gap(3, 9).gap_notice)
    assert decision.verdict is Verdict.ACCEPT and decision.next_seq == 10
    assert [f.kind for f in decision.findings] == ["gap_notice"]
    cursor.accept(2, _hash(notice), "S2", decision.next_seq)
    lost = register.envelope(seq=3, advance=False)
    assert cursor.decide(lost, _hash(lost), None).error is not None
    after = register.envelope(seq=10)
    assert cursor.decide(after, _hash(after), None).verdict is Verdict.ACCEPT


def test_a_gap_notice_that_does_not_start_right_after_it_allows_no_gap(register: Register) -> None:
    state = ChainState()
    notice = register.envelope(_gap(5, 9))
    decision = state.cursor(register.device_id).decide(notice, _hash(notice), _gap(5, 9).gap_notice)
    assert decision.verdict is Verdict.ACCEPT and decision.next_seq == 2
    assert [f.kind for f in decision.findings] == ["bad_gap_notice"]


def test_old_seqs_beyond_the_window_come_from_storage(register: Register) -> None:
    state = ChainState(window=4)
    envelopes = register.run(10)
    _accept(state, *envelopes)
    assert state.missing_history(register.device_id, [1, 2, 7, 9, 11]) == [1, 2]

    @dataclass(frozen=True)
    class Stored:
        envelope_hash: bytes
        fiscal_sign: str

    cursor = state.cursor(register.device_id, {1: Stored(_hash(envelopes[0]), "SIGN-1")})
    assert cursor.decide(envelopes[0], _hash(envelopes[0]), None).fiscal_sign == "SIGN-1"
    decision = cursor.decide(envelopes[1], _hash(envelopes[1]), None)
    assert decision.error is not None and (decision.error.code, decision.error.retryable) == (
        "history_unavailable",
        True,
    )


@dataclass(frozen=True)
class HeadRow:
    device_id: str
    seq: int
    envelope_hash: bytes
    fiscal_sign: str
    event_time_ms: int
    gap_event: bytes = b""
    next_seq: int = 0


def test_restore_from_storage_then_replay_the_journal(register: Register) -> None:
    envelopes = register.run(5)
    state = ChainState()
    state.restore([HeadRow(register.device_id, 3, _hash(envelopes[2]), "SIGN-3", NOW_MS)])
    for envelope in envelopes[1:]:  # the journal may still hold records storage already has
        record = pb.JournalRecord(envelope=envelope, accepted=True, envelope_hash=_hash(envelope))
        record.fiscal_sign = f"SIGN-{envelope.seq}"
        state.apply_record(record)
    state.apply_record(pb.JournalRecord(envelope=register.envelope(seq=6, advance=False), accepted=False))
    head = state.head(register.device_id)
    assert (head.seq, head.envelope_hash) == (5, register.head)
    assert state.recent(register.device_id, 4) == (_hash(envelopes[3]), "SIGN-4")


def test_replaying_a_gap_notice_restores_the_allowed_jump(register: Register) -> None:
    notice = register.envelope(_gap(2, 4))
    state = ChainState()
    state.apply_record(pb.JournalRecord(envelope=notice, accepted=True, envelope_hash=_hash(notice)))
    assert state.head(register.device_id).next_seq == 5


def test_a_gap_notice_restored_as_the_stored_head_allows_the_same_jump(register: Register) -> None:
    notice = register.envelope(_gap(2, 4))
    state = ChainState()
    state.restore([HeadRow(register.device_id, 1, _hash(notice), "SIGN-1", NOW_MS, notice.event)])
    assert state.head(register.device_id).next_seq == 5

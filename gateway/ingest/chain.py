"""Chain stage: per-device seq/prev_hash continuity, duplicates, forks, gaps and signed gap notices.

`ChainState` holds, per device, the accepted head and a bounded window of recent (seq -> envelope hash,
fiscal sign) so that resends are answered from memory; older seqs are looked up in storage by the
pipeline. A batch works on a `ChainCursor` (a tentative copy of one device's head) and commits it only
after the journal made the batch durable, so a failed append leaves the chain as it was.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from google.protobuf.message import DecodeError

from gateway import errors
from gateway.errors import ErrorCode
from gateway.wire import pb, signing

DEFAULT_WINDOW = 256


class KnownEnvelope(Protocol):
    """What the pipeline needs of an envelope found in storage (gateway.storage.chain_heads)."""

    @property
    def envelope_hash(self) -> bytes: ...

    @property
    def fiscal_sign(self) -> str: ...

    @property
    def signature(self) -> bytes: ...

    @property
    def key_id(self) -> str: ...


class StoredHead(Protocol):
    """A device's newest accepted envelope as storage knows it (gateway.storage.chain_heads.ChainHead)."""

    @property
    def device_id(self) -> str: ...

    @property
    def seq(self) -> int: ...

    @property
    def envelope_hash(self) -> bytes: ...

    @property
    def fiscal_sign(self) -> str: ...

    @property
    def gap_event(self) -> bytes:
        """The head's event bytes when it is a gap notice, else b"" (the next seq is then past the gap)."""
        ...

    @property
    def next_seq(self) -> int:
        """The seq that may follow, when storage keeps it (chain_heads); 0 when it must be derived."""
        ...


@dataclass(frozen=True, slots=True)
class Head:
    """The newest accepted envelope of a device, and the seq that may come next."""

    seq: int
    envelope_hash: bytes
    next_seq: int  # seq + 1, or past the range a signed gap notice declared lost


@dataclass(frozen=True)
class HeadMove:
    """A device's head moved by a batch: from the head the batch was judged against, to its newest accept."""

    device_id: str
    from_seq: int
    from_hash: bytes
    seq: int
    envelope_hash: bytes
    fiscal_sign: str
    next_seq: int


class Verdict(enum.Enum):
    """What the chain says about one envelope."""

    ACCEPT = "accept"
    DUPLICATE = "duplicate"
    REJECT = "reject"


@dataclass(slots=True)
class Decision:
    """The chain's answer for one envelope; findings go on its journal record."""

    verdict: Verdict
    fiscal_sign: str = ""
    error: ErrorCode | None = None
    detail: str = ""
    findings: list[pb.Finding] = field(default_factory=list)
    next_seq: int = 0


def _gap_notice(event_bytes: bytes) -> pb.GapNotice | None:
    try:
        event = pb.Event.FromString(event_bytes)
    except DecodeError:
        return None
    return event.gap_notice if event.WhichOneof("body") == "gap_notice" else None


def next_seq_after(seq: int, gap: pb.GapNotice | None) -> tuple[int, list[pb.Finding]]:
    """The seq expected after an accepted envelope, and the finding a gap notice makes."""
    if gap is None:
        return seq + 1, []
    if gap.first_missing_seq != seq + 1 or gap.last_missing_seq < gap.first_missing_seq:
        detail = (
            f"gap notice at seq {seq} declares {gap.first_missing_seq}..{gap.last_missing_seq} lost; "
            f"it must start at {seq + 1}: no gap allowed"
        )
        return seq + 1, [pb.Finding(kind="bad_gap_notice", detail=detail)]
    detail = f"seqs {gap.first_missing_seq}..{gap.last_missing_seq} declared lost by the device: {gap.reason}"
    return gap.last_missing_seq + 1, [pb.Finding(kind="gap_notice", detail=detail)]


class ChainState:
    """Per-device chain heads and recent windows, rebuilt from storage heads and the journal at start."""

    def __init__(self, window: int = DEFAULT_WINDOW) -> None:
        self._window = window
        self._heads: dict[str, Head] = {}
        self._recent: dict[str, dict[int, tuple[bytes, str]]] = {}

    def head(self, device_id: str) -> Head:
        """The device's accepted head; for a device with none, seq 0 and the genesis hash."""
        head = self._heads.get(device_id)
        if head is None:
            return Head(0, signing.genesis_hash(device_id), 1)
        return head

    def recent(self, device_id: str, seq: int) -> tuple[bytes, str] | None:
        """(envelope hash, fiscal sign) of an accepted seq still in the window, else None."""
        return self._recent.get(device_id, {}).get(seq)

    def missing_history(self, device_id: str, seqs: Iterable[int]) -> list[int]:
        """Those of seqs at or below the head that the window no longer holds (to look up in storage)."""
        head = self.head(device_id).seq
        window = self._recent.get(device_id, {})
        return sorted({seq for seq in seqs if seq <= head and seq not in window})

    def remember(
        self, device_id: str, seq: int, envelope_hash: bytes, fiscal_sign: str, next_seq: int
    ) -> None:
        """Record an accepted envelope: advance the head if it is newer, keep it in the window."""
        self.remember_run(device_id, {seq: (envelope_hash, fiscal_sign, next_seq)})

    def remember_run(self, device_id: str, accepted: Mapping[int, tuple[bytes, str, int]]) -> None:
        """remember() of each seq -> (envelope hash, fiscal sign, next seq), with the head made once.

        The same as remembering them one by one: the newest seq is the head if it is newer than the head.
        """
        if not accepted:
            return
        newest = max(accepted)
        current = self._heads.get(device_id)
        if current is None or newest > current.seq:
            envelope_hash, _, next_seq = accepted[newest]
            self._heads[device_id] = Head(newest, envelope_hash, max(next_seq, newest + 1))
        # The window's keys are kept in ascending order, so its smallest seq is its first key: evicting is
        # O(1), not a min() over the whole window for every accepted envelope.
        window = self._recent.setdefault(device_id, {})
        in_order = True
        for seq, (envelope_hash, fiscal_sign, _) in accepted.items():
            in_order = in_order and (not window or seq in window or seq > next(reversed(window)))
            window[seq] = (envelope_hash, fiscal_sign)
        if not in_order:  # rare: a journal replay below a head restored from storage
            window = self._recent[device_id] = dict(sorted(window.items()))
        while len(window) > self._window:
            del window[next(iter(window))]

    def restore(self, heads: Iterable[StoredHead]) -> None:
        """Load the newest accepted envelope of each device from storage rows.

        A head that is a gap notice is followed by the seq after the declared gap, as when it was accepted:
        the journal that said so may be shipped and gone, or on another node.
        """
        for row in heads:
            next_seq = row.next_seq
            if not next_seq:
                next_seq, _ = next_seq_after(row.seq, _gap_notice(row.gap_event) if row.gap_event else None)
            self.remember(row.device_id, row.seq, row.envelope_hash, row.fiscal_sign, next_seq)

    def forget(self, device_id: str) -> None:
        """Drop a device's head and window: another node moved its chain, so storage is asked next time."""
        self._heads.pop(device_id, None)
        self._recent.pop(device_id, None)

    def apply_record(self, record: pb.JournalRecord) -> None:
        """Replay one journal record (rejections change nothing)."""
        if not record.accepted:
            return
        envelope = record.envelope
        next_seq, _ = next_seq_after(envelope.seq, _gap_notice(envelope.event))
        self.remember(envelope.device_id, envelope.seq, record.envelope_hash, record.fiscal_sign, next_seq)

    def cursor(self, device_id: str, stored: Mapping[int, KnownEnvelope] | None = None) -> ChainCursor:
        """A tentative view of one device's chain for one batch."""
        return ChainCursor(self, device_id, stored or {})

    def __len__(self) -> int:
        return len(self._heads)


class ChainCursor:
    """One device's chain during one batch: decisions see the batch's earlier accepts; commit() keeps them."""

    def __init__(self, state: ChainState, device_id: str, stored: Mapping[int, KnownEnvelope]) -> None:
        self._state = state
        self._device_id = device_id
        self._stored = stored
        self._head = state.head(device_id)
        self._started = self._head  # what the batch is judged against
        self._pending: dict[int, tuple[bytes, str, int]] = {}

    @property
    def head(self) -> Head:
        """The tentative head, including this batch's accepts."""
        return self._head

    def _known(self, seq: int) -> tuple[bytes, str] | None:
        if seq in self._pending:
            envelope_hash, sign, _ = self._pending[seq]
            return envelope_hash, sign
        recent = self._state.recent(self._device_id, seq)
        if recent is not None:
            return recent
        stored = self._stored.get(seq)
        return None if stored is None else (stored.envelope_hash, stored.fiscal_sign)

    def decide(self, envelope: pb.Envelope, envelope_hash: bytes, gap: pb.GapNotice | None) -> Decision:
        """Accept, duplicate or reject one authentic envelope given the chain so far."""
        seq, head = envelope.seq, self._head
        if seq <= head.seq:
            known = self._known(seq)
            if known is None:
                return Decision(
                    Verdict.REJECT, error=errors.HISTORY_UNAVAILABLE, detail=f"seq {seq} is not in reach yet"
                )
            if known[0] == envelope_hash:
                return Decision(Verdict.DUPLICATE, fiscal_sign=known[1])
            return self._fork(
                seq, f"seq {seq} was accepted with hash {known[0].hex()}, this one is {envelope_hash.hex()}"
            )
        if seq < head.next_seq:
            return self._fork(seq, f"seq {seq} was declared lost by the gap notice at seq {head.seq}")
        if seq > head.next_seq:
            return Decision(
                Verdict.REJECT,
                error=errors.SEQ_GAP,
                detail=f"expected seq {head.next_seq}, got {seq}: upload in order",
            )
        if envelope.prev_hash != head.envelope_hash:
            return Decision(
                Verdict.REJECT,
                error=errors.PREV_HASH_MISMATCH,
                detail=f"prev_hash of seq {seq} is not the hash of the accepted seq {head.seq}",
            )
        next_seq, findings = next_seq_after(seq, gap)
        return Decision(Verdict.ACCEPT, findings=findings, next_seq=next_seq)

    def _fork(self, seq: int, detail: str) -> Decision:
        finding = pb.Finding(kind="chain_fork", detail=detail)
        return Decision(Verdict.REJECT, error=errors.CHAIN_FORK, detail=detail, findings=[finding])

    def accept(self, seq: int, envelope_hash: bytes, fiscal_sign: str, next_seq: int) -> None:
        """Advance the tentative head past an accepted envelope."""
        self._pending[seq] = (envelope_hash, fiscal_sign, next_seq)
        self._head = Head(seq, envelope_hash, next_seq)

    def move(self) -> HeadMove | None:
        """This batch's move of the head (None if it accepted nothing), for chain_heads on a cluster."""
        if not self._pending:
            return None
        newest = max(self._pending)
        envelope_hash, fiscal_sign, next_seq = self._pending[newest]
        started = self._started
        return HeadMove(
            self._device_id, started.seq, started.envelope_hash, newest, envelope_hash, fiscal_sign, next_seq
        )

    def move_back(self) -> HeadMove | None:
        """The move that undoes move() (the batch was not journalled after all)."""
        forward = self.move()
        if forward is None:
            return None
        started = self._started
        known = self._state.recent(self._device_id, started.seq)
        return HeadMove(
            self._device_id, forward.seq, forward.envelope_hash, started.seq, started.envelope_hash,
            known[1] if known else "", started.next_seq,
        )

    def commit(self) -> None:
        """Make this batch's accepts the device's chain (call only once the journal has them)."""
        self._state.remember_run(self._device_id, self._pending)

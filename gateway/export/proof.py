"""Which events a verified ES256 signature covers, checking as few signatures as proves every event.

An event's signed preimage holds its predecessor's chain hash, which holds the one before, and so on: a
valid signature on event f by the key in force proves every event of the unbroken chain up to f, content
and order (SHA-256 collision resistance). The gateway keeps only the signatures it verified, normally the
newest of each chained run a register sent (docs/security.md), so an event with an empty signature is
covered by the next signed event of its stretch. A stretch of linked events under one key needs one
verify, of its newest signed event, plus the hashes already computed for the links: the gateway
authenticates a batch the same way. A stretch ends where that reasoning stops (a broken link or missing
seq, a key change, a revocation point, an event whose digest the file does not hold), and at the first
signed event after every CHECKPOINT events, so a failure is localised among few and memory stays bounded:
only signed events wait to be verified, an unsigned one is a count. Events still unsigned when their
stretch ends have no covering signature: the caller says why, a failure or what the gateway attests.
When the newest signature of a stretch fails, the signed events before it are verified one by one, newest
first, until one holds: that one proves itself and all before it; the rest stay unproven unless a later
valid signature covers them. `every=True` verifies each signature the file holds as well (docs/export.md):
then each is evidence on its own; an event without one is still covered by the next valid one.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.export.report import Report
from gateway.wire import signing

CHECKPOINT = 1000
SIGNATURES = "signatures"


@dataclass(slots=True)
class Span:
    """Events of the export's range in a stretch (proof records are not counted): first, last, how many."""

    first: int = 0
    last: int = 0
    count: int = 0

    def add(self, seq: int, counted: bool) -> None:
        """One more event, after the others."""
        if counted:
            if not self.count:
                self.first = seq
            self.last, self.count = seq, self.count + 1

    def merge(self, later: Span) -> None:
        """The events of a later span too."""
        if later.count:
            if not self.count:
                self.first = later.first
            self.last, self.count = later.last, self.count + later.count

    def text(self) -> str:
        """seq a..b, as the report writes it."""
        return f"seq {self.first}" if self.first == self.last else f"seq {self.first}..{self.last}"

    def them(self, one: str, many: str) -> str:
        """The word for one event or for several."""
        return one if self.count == 1 else many


class Proof:
    """One device's signature proofs, stretch by stretch."""

    def __init__(self, report: Report, scope: str, *, every: bool, checkpoint: int = CHECKPOINT) -> None:
        self._report = report
        self._scope = scope
        self._every = every
        self._checkpoint = checkpoint
        self._key: ec.EllipticCurvePublicKey | None = None
        self._key_id = ""
        # Signed events not verified yet (seq, preimage, signature), each with the events it covers.
        self._buffer: list[tuple[int, bytes, bytes, Span]] = []
        self._tail = Span()  # unsigned events after the buffer's newest: the next signature covers them
        self._failed = Span()  # events before the buffer whose covering signatures did not verify
        self._since_settled = 0  # events added since the buffer was last verified
        self._orphans = Span()  # unsigned events cut off by a revocation point (revoke)
        self._revoked = (0, "")  # that point, and how the key was revoked
        self.verified = 0  # signatures verified and valid
        self.proven = 0  # events covered by a valid signature
        self.attested = 0  # events no signature in the file covers, vouched for by the gateway (notes)
        self.proven_through = 0  # the newest seq covered

    @property
    def every(self) -> bool:
        """Whether each signature is verified on its own."""
        return self._every

    def use_key(self, key: ec.EllipticCurvePublicKey | None, key_id: str, why: str = "") -> None:
        """End the stretch (why: for events left unsigned); the next events are signed under key (None: no
        key is known for them)."""
        self.end(why=why or "their key's stretch ends there")
        self._key, self._key_id = key, key_id

    def add(self, seq: int, preimage: bytes, signature: bytes, *, counted: bool = True) -> None:
        """One event of the stretch, linked to the one before; counted: in the export's range (not a proof
        record)."""
        self._since_settled += 1
        if not signature:
            self._tail.add(seq, counted)
            return
        before, self._tail = self._tail, Span()
        covers = Span(before.first, before.last, before.count)
        covers.add(seq, counted)
        if self._every and self._key is not None:
            if self._verify(preimage, signature):
                self._proved(seq, covers)
                return
            self._tail = before  # the unsigned events before it wait for a later valid signature
            if counted:
                detail = f"seq {seq}: its own signature does not verify under key {self._key_id}"
                self._report.fail(self._scope, SIGNATURES, detail, seq)
            return
        self._buffer.append((seq, preimage, signature, covers))
        if self._since_settled >= self._checkpoint:
            self._settle()

    def skip(self, seq: int, signature: bytes) -> None:
        """An event signed with a revoked key: its signature proves nothing, but it may be the one that
        would have covered the events cut off by the revocation point (which then are reported)."""
        if signature and self._orphans.count:
            self._report_orphans(seq)

    def revoke(self, from_seq: int, how: str) -> None:
        """A revocation point at from_seq (how: the key was revoked): no signature from here on proves what
        came before, so the stretch ends; unsigned events before it are unproven, not shown forged."""
        self._settle()
        self._report_failed()
        self._report_orphans(0)
        self._orphans, self._tail = self._tail, Span()
        self._revoked = (from_seq, how)

    def end(self, *, why: str = "", attested: str = "") -> None:
        """End the stretch: verify what is pending and report what no valid signature covers. Events left
        unsigned at its end: attested says who vouches for them (a note), else why says what cut them off
        from a signature (a failure)."""
        self._settle()
        self._report_failed()
        self._report_orphans(0)
        tail, self._tail = self._tail, Span()
        if not tail.count:
            return
        if self._key is None:
            detail = f"{tail.text()}: no key of this device is known for {tail.them('it', 'them')}"
            self._report.fail(self._scope, SIGNATURES, detail, tail.first)
        elif attested:
            self.attested += tail.count
            self._report.note(self._scope, SIGNATURES, f"{tail.text()}: {attested}", tail.first)
        else:
            own = tail.them("no signature of its own", "none carries a signature of its own")
            detail = f"{tail.text()}: unproven: {own}, and {why}"
            self._report.fail(self._scope, SIGNATURES, detail, tail.first)

    def _proved(self, seq: int, covers: Span) -> None:
        self.proven += self._failed.count + covers.count
        self.proven_through = seq
        self._failed = Span()

    def _settle(self) -> None:
        """Verify the buffer newest first: the first valid signature proves it and everything before."""
        buffer, self._buffer, self._since_settled = self._buffer, [], 0
        if self._key is not None:
            for index in range(len(buffer) - 1, -1, -1):
                seq, preimage, signature, _ = buffer[index]
                if self._verify(preimage, signature):
                    covered = Span()
                    for _, _, _, earlier in buffer[: index + 1]:
                        covered.merge(earlier)
                    self._proved(seq, covered)
                    buffer = buffer[index + 1 :]
                    break
        for _, _, _, covers in buffer:
            self._failed.merge(covers)

    def _report_failed(self) -> None:
        failed, self._failed = self._failed, Span()
        if not failed.count:
            return
        if self._key is None:
            detail = f"{failed.text()}: no key of this device is known for {failed.them('it', 'them')}"
        else:
            detail = (
                f"{failed.text()}: not signed by key {self._key_id} (the device's key there): no signature "
                f"that covers {failed.them('it', 'them')} verifies, and no later one does (altered after "
                "signing, or forged)"
            )
        self._report.fail(self._scope, SIGNATURES, detail, failed.first)

    def _report_orphans(self, cover: int) -> None:
        """Events cut off by the revocation point; cover: the seq of the signature that would have covered
        them (0: the file holds none)."""
        orphans, self._orphans = self._orphans, Span()
        if not orphans.count:
            return
        from_seq, how = self._revoked
        own = orphans.them("no signature of its own", "none carries a signature of its own")
        if cover:
            covers = orphans.them("it", "them")
            why = f"the signature that covers {covers}, at seq {cover}, was {how}: it proves nothing"
        else:
            why = f"no signature of their chain follows before the revocation point at seq {from_seq}"
        detail = f"{orphans.text()}: unproven, not shown forged: {own}, and {why}"
        self._report.fail(self._scope, SIGNATURES, detail, orphans.first)

    def _verify(self, preimage: bytes, signature: bytes) -> bool:
        assert self._key is not None
        if signing.verify_signature(self._key, preimage, signature):
            self.verified += 1
            return True
        return False

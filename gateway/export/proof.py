"""Which events a verified ES256 signature covers, checking as few signatures as proves every event.

An event's signed preimage holds its predecessor's chain hash, which holds the one before, and so on: a
valid signature on event f by the key in force proves every event of the unbroken chain up to f, content
and order (SHA-256 collision resistance). So a stretch of linked events under one key needs one verify,
of its newest event, plus the hashes already computed for the links: the gateway authenticates a batch the
same way. A stretch ends where that reasoning stops: a broken link or missing seq, a key rotation (the
rotation itself must verify under the key it replaces), a revocation point, an event whose digest the file
does not hold; and every CHECKPOINT events, so a failure is localised among few and memory stays bounded.
When the newest signature of a stretch fails, the events before it are verified one by one, newest first,
until one holds: that one proves itself and all before it; the rest stay unproven unless a later valid
signature covers them. `every=True` verifies each event's own signature as well (slower, see
docs/export.md): then each envelope is evidence on its own, without the events after it.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.export.report import Report
from gateway.wire import signing

CHECKPOINT = 1000
SIGNATURES = "signatures"


class Proof:
    """One device's signature proofs, stretch by stretch."""

    def __init__(self, report: Report, scope: str, *, every: bool, checkpoint: int = CHECKPOINT) -> None:
        self._report = report
        self._scope = scope
        self._every = every
        self._checkpoint = checkpoint
        self._key: ec.EllipticCurvePublicKey | None = None
        self._key_id = ""
        self._buffer: list[tuple[int, bytes, bytes]] = []  # (seq, preimage, signature) not yet checked
        # Events before the buffer that no valid signature covers yet (their own failed): first, last, count.
        self._failed: list[int] = []
        self.verified = 0  # signatures verified and valid
        self.proven = 0  # events covered by a valid signature
        self.proven_through = 0  # the newest seq covered

    @property
    def every(self) -> bool:
        """Whether each event's own signature is verified."""
        return self._every

    def use_key(self, key: ec.EllipticCurvePublicKey | None, key_id: str) -> None:
        """End the stretch; the next events are signed under key (None: no key is known for them)."""
        self.end()
        self._key, self._key_id = key, key_id

    def add(self, seq: int, preimage: bytes, signature: bytes) -> None:
        """One event of the stretch, linked to the one before."""
        if self._every and self._key is not None:
            if self._verify(preimage, signature):
                self.proven += 1
                self.proven_through = seq
            else:
                self._report.fail(
                    self._scope,
                    SIGNATURES,
                    f"seq {seq}: its own signature does not verify under key {self._key_id}",
                    seq,
                )
            return
        self._buffer.append((seq, preimage, signature))
        if len(self._buffer) >= self._checkpoint:
            self._settle()

    def end(self) -> None:
        """End the stretch: verify what is pending; report events no valid signature covers."""
        self._settle()
        if self._failed:
            first, last, _ = self._failed
            which = f"seq {first}" if first == last else f"seq {first}..{last}"
            if self._key is None:
                detail = f"{which}: no key of this device is known for it"
            else:
                detail = (
                    f"{which}: not signed by key {self._key_id} (the device's key there): its signature does "
                    "not verify and no later signature covers it (altered after signing, or forged)"
                )
            self._report.fail(self._scope, SIGNATURES, detail, first)
        self._failed = []

    def _settle(self) -> None:
        """Verify the buffer newest first: the first valid signature proves it and everything before."""
        buffer, self._buffer = self._buffer, []
        if not buffer:
            return
        for index in range(len(buffer) - 1, -1, -1) if self._key is not None else ():
            seq, preimage, signature = buffer[index]
            if self._verify(preimage, signature):
                self.proven += index + 1 + (self._failed[2] if self._failed else 0)
                self.proven_through = seq
                self._failed = []
                buffer = buffer[index + 1 :]
                break
        if buffer:
            first = self._failed[0] if self._failed else buffer[0][0]
            count = (self._failed[2] if self._failed else 0) + len(buffer)
            self._failed = [first, buffer[-1][0], count]

    def _verify(self, preimage: bytes, signature: bytes) -> bool:
        assert self._key is not None
        if signing.verify_signature(self._key, preimage, signature):
            self.verified += 1
            return True
        return False

"""A minimal register for end-to-end tests: a key, a chain, and signed envelopes built by the wire rules."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.wire import pb, signing


def sale(total: int = 1500, *, time_ms: int | None = None, lines_sum: int | None = None) -> pb.Event:
    """A one-line cash sale; lines_sum lets a test make the arithmetic wrong."""
    line_sum = total if lines_sum is None else lines_sum
    return pb.Event(
        time_ms=time_ms if time_ms is not None else int(time.time() * 1000),
        receipt=pb.Receipt(
            operation=pb.SELL,
            shift_number=1,
            document_number=1,
            shift_document_number=1,
            lines=[
                pb.ReceiptLine(
                    name="Bread",
                    quantity=1000,
                    price=line_sum,
                    sum=line_sum,
                    taxes=[
                        pb.Tax(tax_type=100, rate_bp=1200, sum=(line_sum * 1200 * 2 + 11200) // (2 * 11200))
                    ],
                )
            ],
            payments=[pb.Payment(type=pb.CASH, sum=total)],
            total=total,
        ),
    )


@dataclass
class ChainedRegister:
    """Signs events in order, like firmware; can also make forks, gaps and forgeries on purpose."""

    device_id: str
    key: ec.EllipticCurvePrivateKey = field(default_factory=signing.new_private_key)
    seq: int = 0
    head: bytes = b""

    def __post_init__(self) -> None:
        self.head = self.head or signing.genesis_hash(self.device_id)

    @property
    def key_id(self) -> str:
        return signing.key_id_of(self.key.public_key())

    @property
    def public_key_pem(self) -> str:
        return signing.public_key_pem(self.key.public_key())

    def envelope(
        self,
        event: pb.Event | bytes,
        *,
        seq: int | None = None,
        prev_hash: bytes | None = None,
        advance: bool = True,
        key: ec.EllipticCurvePrivateKey | None = None,
    ) -> pb.Envelope:
        """Sign the next envelope (or one with the given seq/prev_hash) and, by default, advance the head.

        event: an Event, or the exact bytes to sign (firmware with a bug may sign bytes that are no Event).
        """
        seq = self.seq + 1 if seq is None else seq
        prev = self.head if prev_hash is None else prev_hash
        event_bytes = event if isinstance(event, bytes) else event.SerializeToString()
        preimage = signing.event_preimage(self.device_id, seq, prev, event_bytes)
        env = pb.Envelope(
            device_id=self.device_id,
            seq=seq,
            prev_hash=prev,
            event=event_bytes,
            signature=signing.sign(key or self.key, preimage),
            key_id=self.key_id,
        )
        if advance:
            self.seq, self.head = seq, signing.envelope_hash(preimage)
        return env

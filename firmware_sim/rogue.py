"""What a gateway must turn away (a stranger, a forger, a fork, a gap) and keep (a clock from the future).

The demo sends this after the fleet so the summary shows rejections, each with its stable error code. The
register whose clock runs a day ahead signed its event: it is accepted, with a clock_skew anomaly.
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from collections import Counter

from firmware_sim.device import DeviceIdentity, Register
from firmware_sim.fleet import SELLER_TINS
from gateway.wire import pb, signing

CONTENT_TYPE = "application/x-protobuf"


def _post(gateway_url: str, envelopes: list[bytes]) -> list[pb.EventAck]:
    body = b"".join(b"\x0a" + _varint(len(e)) + e for e in envelopes)  # IngestBatch.envelopes = field 1
    request = urllib.request.Request(gateway_url.rstrip("/") + "/v1/batches", data=body, method="POST")
    request.add_header("Content-Type", CONTENT_TYPE)
    with urllib.request.urlopen(request, timeout=30) as response:
        return list(pb.IngestAck.FromString(response.read()).acks)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _register_device(gateway_url: str, token: str, register: Register) -> None:
    request = urllib.request.Request(
        gateway_url.rstrip("/") + "/v1/admin/devices",
        method="POST",
        data=json.dumps(register.registration()).encode(),
    )
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Bearer {token}")
    try:
        urllib.request.urlopen(request, timeout=30).close()
    except urllib.error.HTTPError as exc:
        if exc.code != 200:
            raise


def _tampered(raw: bytes, mutate: str) -> bytes:
    envelope = pb.Envelope.FromString(raw)
    if mutate == "signature":
        envelope.signature = bytes(64)
    elif mutate == "event":
        event = pb.Event.FromString(envelope.event)
        event.receipt.total += 100_000  # someone edits the amount after signing
        envelope.event = event.SerializeToString()
    return envelope.SerializeToString()


def send_rogue_traffic(gateway_url: str, admin_token: str, seed: int = 7) -> Counter[str]:
    """Send one of each kind of bad envelope; returns the error codes the gateway answered, counted."""
    rng = random.Random(seed)
    suffix = f"{rng.randrange(16**6):06x}"
    answers: Counter[str] = Counter()

    def send(raws: list[bytes]) -> None:
        for ack in _post(gateway_url, raws):
            answers[ack.error_code or pb.AckStatus.Name(ack.status)] += 1

    stranger = Register(
        DeviceIdentity(f"rogue-{suffix}-stranger", SELLER_TINS[0], "ALA-999", 0, 0),
        signing.new_private_key(),
        rng=rng,
    )
    stranger.open_shift()
    send([stranger.sell()])  # unknown_device: never registered

    honest = Register(
        DeviceIdentity(f"rogue-{suffix}-honest", SELLER_TINS[1], "AST-999", 0, 0),
        signing.new_private_key(),
        rng=rng,
    )
    _register_device(gateway_url, admin_token, honest)
    send([honest.open_shift(), honest.sell()])  # both accepted
    fork = Register(honest.identity, honest.key, rng=random.Random(seed + 1))
    fork.open_shift()
    send([fork.sell()])  # chain_fork: seq 2 again, other content
    pending = honest.sell()
    send([_tampered(pending, "signature")])  # bad_signature
    send([_tampered(pending, "event")])  # bad_signature: the signed bytes were changed
    send([pending])  # seq 3 itself is fine: accepted
    honest.sell()  # seq 4 stays on the register …
    send([honest.sell()])  # … so seq 5 is a seq_gap
    head = _chain_hash(pb.Envelope.FromString(pending))
    tomorrow = pb.Event(time_ms=int(time.time() * 1000) + 86_400_000, shift_open=pb.ShiftOpen(shift_number=9))
    send([_signed(honest, 4, head, tomorrow)])  # accepted, a clock_skew anomaly
    return answers


def _chain_hash(envelope: pb.Envelope) -> bytes:
    return signing.envelope_hash(
        signing.event_preimage(envelope.device_id, envelope.seq, envelope.prev_hash, envelope.event)
    )


def _signed(register: Register, seq: int, prev_hash: bytes, event: pb.Event) -> bytes:
    event_bytes = event.SerializeToString()
    preimage = signing.event_preimage(register.identity.device_id, seq, prev_hash, event_bytes)
    return pb.Envelope(
        device_id=register.identity.device_id,
        seq=seq,
        prev_hash=prev_hash,
        event=event_bytes,
        signature=signing.sign(register.key, preimage),
        key_id=register.key_id,
    ).SerializeToString()

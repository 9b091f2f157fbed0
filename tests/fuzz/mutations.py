"""Mutations of valid batches: structured (fields, envelope lists, re-signed content) and byte-level."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from gateway.wire import pb, signing

_INTS = (0, 1, -1, 2**31 - 1, -(2**31), 2**32 - 1, 2**63 - 1, -(2**63), 2**64 - 1, 10**15)
_STRINGS = ("", "\x00", "\x1d", "a" * 1025, "Ω" * 600, "'; DROP TABLE events; --", "\ud7ff\ue000", " ",
            "0104870101000133" + "21" + "x" * 90, "%s%n{0}", "\n\r\t")
_SIGNED = {FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT32,
           FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED32, FieldDescriptor.TYPE_SFIXED64}
_BITS = {FieldDescriptor.TYPE_INT32: 32, FieldDescriptor.TYPE_SINT32: 32, FieldDescriptor.TYPE_SFIXED32: 32,
         FieldDescriptor.TYPE_UINT32: 32, FieldDescriptor.TYPE_FIXED32: 32}


def _int_value(field: FieldDescriptor, rng: random.Random) -> int:
    value = rng.choice(_INTS) if rng.random() < 0.7 else rng.randint(-(10**6), 10**9)
    bits = _BITS.get(field.type, 64)
    if field.type in _SIGNED:
        low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    else:
        low, high = 0, 2**bits - 1
    return int(max(low, min(high, value)))


def _scalar(field: FieldDescriptor, rng: random.Random) -> object:
    if field.type == FieldDescriptor.TYPE_STRING:
        return rng.choice(_STRINGS) if rng.random() < 0.7 else "".join(
            chr(rng.randint(1, 0xD7FF)) for _ in range(rng.randint(0, 40)))
    if field.type == FieldDescriptor.TYPE_BYTES:
        return rng.randbytes(rng.choice((0, 1, 31, 32, 33, 64, 65, 300)))
    if field.type == FieldDescriptor.TYPE_BOOL:
        return rng.random() < 0.5
    if field.type == FieldDescriptor.TYPE_ENUM:
        values = [v.number for v in field.enum_type.values] if field.enum_type else []
        return rng.choice([*values, 99])  # proto3 enums are open: unknown numbers must be survived
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return rng.choice((0.0, -1.0, 1e308, float("nan")))
    return _int_value(field, rng)


def mutate_message(message: Message, rng: random.Random, depth: int = 0) -> str:
    """Change one field somewhere inside message (set, clear, add, drop, duplicate); what was done."""
    fields: list[FieldDescriptor] = list(message.DESCRIPTOR.fields)  # type: ignore[arg-type]
    field = rng.choice(fields)
    name = field.name
    repeated = field.is_repeated
    is_message = field.type == FieldDescriptor.TYPE_MESSAGE
    container = getattr(message, name)
    if is_message and not repeated:
        if depth < 4 and rng.random() < 0.8:
            return f"{name}.{mutate_message(container, rng, depth + 1)}"
        message.ClearField(name)
        return f"{name}:clear"
    if repeated:
        roll = rng.random()
        if len(container) and roll < 0.3:
            if is_message:
                return f"{name}[].{mutate_message(rng.choice(container), rng, depth + 1)}"
            container[rng.randrange(len(container))] = _scalar(field, rng)
            return f"{name}[]:set"
        if len(container) and roll < 0.5:
            del container[rng.randrange(len(container))]
            return f"{name}:drop"
        copies = rng.choice((1, 1, 2, 50, 1500))
        for _ in range(copies):
            if is_message:
                item = container.add()
                if len(container) > 1:
                    item.CopyFrom(container[0])
            else:
                container.append(_scalar(field, rng))
        return f"{name}:add{copies}"
    setattr(message, name, _scalar(field, rng))
    return f"{name}:set"


@dataclass
class ChainKey:
    """A device whose key the fuzzer holds: it can sign hostile content that is authentic."""

    device_id: str
    private_key: object
    key_id: str
    seq: int = 0
    head: bytes = b""

    def sign(self, event_bytes: bytes, *, seq: int | None = None, prev: bytes | None = None) -> pb.Envelope:
        """An envelope at the chain's next seq (or the given one), signed with the device key."""
        seq = self.seq + 1 if seq is None else seq
        prev = (self.head or signing.genesis_hash(self.device_id)) if prev is None else prev
        preimage = signing.event_preimage(self.device_id, seq, prev, event_bytes)
        return pb.Envelope(device_id=self.device_id, seq=seq, prev_hash=prev, event=event_bytes,
                           signature=signing.sign(self.private_key, preimage),  # type: ignore[arg-type]
                           key_id=self.key_id)

    def advance(self, envelope: pb.Envelope) -> None:
        """The gateway accepted envelope: it is the new head."""
        preimage = signing.event_preimage(envelope.device_id, envelope.seq, envelope.prev_hash,
                                          envelope.event)
        self.seq, self.head = envelope.seq, signing.envelope_hash(preimage)


@dataclass
class Case:
    """One fuzz input: the body, the operator that made it, and the chained envelope to advance on accept."""

    body: bytes
    operator: str
    chained: pb.Envelope | None = None
    path: str = "/v1/batches"


def _envelope_list(batch: pb.IngestBatch, rng: random.Random) -> str:
    envs = list(batch.envelopes)
    roll = rng.randrange(5)
    if roll == 0:
        rng.shuffle(envs)
        what = "shuffle"
    elif roll == 1:
        envs = envs + envs[: rng.randint(1, len(envs))] * rng.choice((1, 1, 5))
        what = "repeat"
    elif roll == 2:
        envs = envs[rng.randrange(len(envs)):]
        what = "suffix"
    elif roll == 3:
        envs = [envs[rng.randrange(len(envs))]] * (1000 if rng.random() < 0.05 else rng.choice((2, 10, 100)))
        what = "many-copies"
    else:
        envs = [pb.Envelope(device_id=e.device_id, seq=e.seq) for e in envs]
        what = "stripped"
    del batch.envelopes[:]
    batch.envelopes.extend(envs)
    return f"envelopes:{what}"


def structured(valid: pb.IngestBatch, rng: random.Random) -> Case:
    """A protobuf-level mutation of the valid batch (still parses as an IngestBatch)."""
    batch = pb.IngestBatch()
    batch.CopyFrom(valid)
    if rng.random() < 0.3:
        return Case(batch.SerializeToString(), "structured:" + _envelope_list(batch, rng))
    envelope = rng.choice(batch.envelopes)
    if rng.random() < 0.5:
        what = mutate_message(envelope, rng)
    else:
        event = pb.Event.FromString(envelope.event)
        what = "event." + mutate_message(event, rng)
        envelope.event = event.SerializeToString()
    return Case(batch.SerializeToString(), "structured:" + what.split(":")[0].split("[")[0] + ":" +
                what.rsplit(":", 1)[-1])


def resigned(valid: pb.IngestBatch, key: ChainKey, rng: random.Random) -> Case:
    """Hostile content that is authentic: a mutated event, signed at the next seq of the fuzzer's device."""
    event = pb.Event.FromString(rng.choice(valid.envelopes).event)
    what = mutate_message(event, rng) if rng.random() < 0.9 else "as-is"
    envelope = key.sign(event.SerializeToString())
    body = pb.IngestBatch(envelopes=[envelope]).SerializeToString()
    return Case(body, "resigned:event." + what.split("[")[0].split(".")[0].split(":")[0], envelope)


def byte_level(valid_body: bytes, rng: random.Random) -> Case:
    """Raw damage to the serialized batch: flips, inserts, deletes, splices, truncation, junk."""
    data = bytearray(valid_body)
    roll = rng.randrange(7)
    for _ in range(rng.choice((1, 1, 2, 8))):
        pos = rng.randrange(max(1, len(data)))
        if roll == 0 and data:
            data[pos] ^= 1 << rng.randrange(8)
        elif roll == 1:
            data[pos:pos] = rng.randbytes(rng.randint(1, 16))
        elif roll == 2:
            del data[pos : pos + rng.randint(1, 64)]
        elif roll == 3 and data:
            data[pos] = rng.choice((0x00, 0x7F, 0x80, 0xFF))
        elif roll == 4:
            data[pos:pos] = b"\xff" * 9 + b"\x01"  # an over-long varint
        elif roll == 5:
            data = data[:pos]
        else:
            data = bytearray(rng.randbytes(rng.randint(0, 2048)))
    names = ("bitflip", "insert", "delete", "byteset", "varint", "truncate", "junk")
    return Case(bytes(data), "bytes:" + names[roll])


def marking_codes(valid: pb.IngestBatch) -> list[str]:
    """The marking codes in the fixture batch: seeds for code-check mutations."""
    codes = []
    for envelope in valid.envelopes:
        event = pb.Event.FromString(envelope.event)
        codes += [c for line in event.receipt.lines for c in line.marking_codes]
    return codes or ["0104870101000133215abcdefghijkl"]


def _mutated_code(code: str, rng: random.Random) -> str:
    chars = list(code)
    for _ in range(rng.choice((0, 1, 3))):
        pos = rng.randrange(len(chars) + 1)
        roll = rng.randrange(3)
        if roll == 0 and chars:
            del chars[min(pos, len(chars) - 1)]
        elif roll == 1:
            chars.insert(pos, rng.choice("\x1d()0123456789ABCxyz%\x00é"))
        elif chars:
            chars[min(pos, len(chars) - 1)] = chr(rng.randint(32, 126))
    return "".join(chars)


def code_check(codes: list[str], key: ChainKey, rng: random.Random) -> Case:
    """POST /v1/codes/check: a signed check of mutated codes, or a mutated/forged request."""
    asked = [_mutated_code(rng.choice(codes), rng) for _ in range(rng.choice((1, 3, 50)))]
    # Signed now (a check far from the gateway's clock is refused before its codes are looked at).
    body = pb.CodeCheckBody(codes=asked, time_ms=time.time_ns() // 1_000_000, nonce=rng.randbytes(8))
    what = "codes"
    if rng.random() < 0.3:
        what = "body." + mutate_message(body, rng).split(":")[0].split("[")[0]
    raw = body.SerializeToString()
    request = pb.CodeCheckRequest(device_id=key.device_id, body=raw, key_id=key.key_id,
                                  signature=signing.sign(key.private_key,  # type: ignore[arg-type]
                                                         signing.code_check_preimage(key.device_id, raw)))
    roll = rng.random()
    if roll < 0.2:
        what = "request." + mutate_message(request, rng).split(":")[0]
    data = request.SerializeToString()
    if roll > 0.85:
        return Case(byte_level(data, rng).body, "codes:bytes", path="/v1/codes/check")
    return Case(data, f"codes:{what}", path="/v1/codes/check")


Mutator = Callable[[random.Random], Case]

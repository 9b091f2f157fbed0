"""Mutations of valid OFD frames: header fields, structured payload changes, byte damage, framing tricks.

Valid requests come from the OFD register simulator (sales, returns, placements, Z reports, INFO, X
reports, SYSTEM), so structured mutations start from what real registers send.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from firmware_sim.ofd.fleet import ofd_identity
from firmware_sim.ofd.register import OfdRegister
from firmware_sim.ofd.tickets import Style
from gateway.ofd.framing import APPCODE, HEADER, HEADER_SIZE, next_reqnum
from gateway.wire import ofd_pb2
from tests.fuzz.mutations import byte_level, mutate_message

SIZE_LIMIT = 64 * 1024  # the front door's max frame bytes in the fuzz runs


@dataclass
class OfdKey:
    """A register whose token the fuzzer knows: frames built for it pass the token checks."""

    ofd_id: int
    token: int
    reqnum: int = 0

    def header(self, payload: bytes, *, version: int = 203) -> bytes:
        """The header of its next new request."""
        self.reqnum = next_reqnum(self.reqnum)
        size = HEADER_SIZE + len(payload)
        return HEADER.pack(APPCODE, version, size, self.ofd_id, self.token, self.reqnum)


@dataclass
class OfdCase:
    """One input: the bytes sent on a fresh connection, then maybe an end of input, and what made it."""

    data: bytes
    operator: str
    eof: bool = False  # the sender half-closes after data
    key: OfdKey | None = None  # the register whose token an OK answer rotates
    frames: int = 1  # well-framed requests in data (each one must be answered)


@dataclass
class Seeds:
    """Valid request payloads to start from."""

    requests: list[ofd_pb2.Request] = field(default_factory=list)


def seed_requests(count: int = 60, seed: int = 3) -> Seeds:
    """Valid requests of both versions, as simulated registers make them."""
    seeds = Seeds()
    for index, version in ((0, "203"), (3, "mixed")):
        identity = ofd_identity("fuzz", index, seed, version)
        register = OfdRegister(identity, rng=random.Random(seed + index), style=Style(identity.version))
        seeds.requests.append(register.info())
        seeds.requests.append(register.money_placement(ofd_pb2.MONEY_PLACEMENT_DEPOSIT, 20_000_00).request)
        for _ in range(count // 2):
            document = register.sell(buyer=register.rng.random() < 0.3)
            if document.sale is not None:
                document.sale["ticket_number"] = str(4_228_000_000 + register.document_number)
            seeds.requests.append(document.request)
        if register.can_return():
            seeds.requests.append(register.sell_return().request)
        seeds.requests.append(register.x_report())
        seeds.requests.append(register.close_shift().request)
        register.go_offline()
        seeds.requests.append(register.system())
    return seeds


def _frame(payload: bytes, key: OfdKey, rng: random.Random) -> bytes:
    return key.header(payload, version=rng.choice((203, 203, 203, 202))) + payload


def structured(seeds: Seeds, key: OfdKey, rng: random.Random) -> OfdCase:
    """A field changed, cleared, added or dropped somewhere in a valid request; still protobuf."""
    request = ofd_pb2.Request()
    request.CopyFrom(rng.choice(seeds.requests))
    what = "as-is"
    for _ in range(rng.choice((1, 1, 2, 4))):
        try:
            what = mutate_message(request, rng)
        except ValueError:  # proto2 enums are closed: a number they lack cannot be set (bytes can carry it)
            what = "enum-refused"
    payload = request.SerializePartialToString()  # required fields may be gone: that is the point
    operator = "ofd:structured:" + what.split("[")[0].split(".")[0].split(":")[0]
    return OfdCase(_frame(payload, key, rng), operator, key=key)


def payload_bytes(seeds: Seeds, key: OfdKey, rng: random.Random) -> OfdCase:
    """Raw damage to a valid payload, framed with the right SIZE."""
    damaged = byte_level(rng.choice(seeds.requests).SerializePartialToString(), rng)
    return OfdCase(_frame(damaged.body, key, rng), "ofd:payload-" + damaged.operator, key=key)


def header(seeds: Seeds, key: OfdKey, rng: random.Random) -> OfdCase:
    """A valid payload under a header with one field off: APPCODE, VERSION, SIZE, ID, TOKEN or REQNUM."""
    payload = rng.choice(seeds.requests).SerializePartialToString()
    appcode, version, size = APPCODE, 203, HEADER_SIZE + len(payload)
    ofd_id, token, reqnum = key.ofd_id, key.token, next_reqnum(key.reqnum)
    field_ = rng.choice(("appcode", "version", "size", "id", "token", "reqnum"))
    eof = False
    if field_ == "appcode":
        appcode = rng.choice((0x0000, 0xA281, 0x81A3, 0xFFFF, rng.randrange(0x10000)))
    elif field_ == "version":
        version = rng.choice((0, 124, 200, 201, 204, 302, 0xFFFF))
    elif field_ == "size":
        size = rng.choice((0, 1, 17, size - 1, size + 1, SIZE_LIMIT + 1, 0xFFFF_FFFF))
        eof = True  # a SIZE larger than what comes: the sender stops, the door must not wait forever
    elif field_ == "id":
        ofd_id = rng.choice((0, 1, 0xFFFF_FFFF, rng.randrange(2**32)))
    elif field_ == "token":
        token = rng.choice((0, 1, key.token ^ 1, 0xFFFF_FFFF))
    else:
        reqnum = rng.choice((key.reqnum, 0, 0xFFFF))
    data = HEADER.pack(appcode, version, size, ofd_id, token, reqnum) + payload
    # With the key: an OK answer (a REQNUM of 0 or 65535 is a new request) rotates its token.
    return OfdCase(data, f"ofd:header:{field_}", eof=eof, key=key)


def framing(seeds: Seeds, key: OfdKey, rng: random.Random) -> OfdCase:
    """Frames cut short, followed by junk, two at once, or no frame at all."""
    roll = rng.randrange(5)
    payload = rng.choice(seeds.requests).SerializePartialToString()
    frame = _frame(payload, key, rng)
    if roll == 0:
        return OfdCase(frame[: rng.randrange(len(frame))], "ofd:framing:truncated", eof=True)
    if roll == 1:
        return OfdCase(frame + rng.randbytes(rng.randint(1, 64)), "ofd:framing:trailing-junk", eof=True,
                       key=key)
    if roll == 2:
        second = _frame(rng.choice(seeds.requests).SerializePartialToString(), key, rng)
        return OfdCase(frame + second, "ofd:framing:two-frames", key=key, frames=2)
    if roll == 3:
        return OfdCase(rng.randbytes(rng.randint(0, 64)), "ofd:framing:junk", eof=True)
    return OfdCase(frame[:HEADER_SIZE], "ofd:framing:header-only", eof=True)


def make_case(seeds: Seeds, key: OfdKey, rng: random.Random) -> OfdCase:
    """One input: 35 % structured, 25 % payload bytes, 25 % header fields, 15 % framing."""
    roll = rng.random()
    if roll < 0.35:
        return structured(seeds, key, rng)
    if roll < 0.60:
        return payload_bytes(seeds, key, rng)
    if roll < 0.85:
        return header(seeds, key, rng)
    return framing(seeds, key, rng)

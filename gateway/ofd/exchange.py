"""The last exchange of every OFD register: the TOKEN/REQNUM rules, and what makes a resend safe.

The gateway keeps one last exchange per register: the TOKEN and REQNUM it came with, its command, the
whole answer frame, the token the register is to use next, and the register's counters after it. It is
journalled with the exchange's event in one append (a service command gets a record of its own) before
the answer leaves, and restored at start from ClickHouse (`ofd_exchanges`, for shipped records) and then
from the journal's replay, the newest (`number`) winning; so a gateway killed between a register's request
and its resend still answers the resend with the same bytes. The copy that leaves the journal is sealed
(gateway/ofd/keys.py): it carries the register's current token.

The rules (design document §4), in order, for a request (TOKEN, REQNUM, command):

1. the last exchange's TOKEN and REQNUM and the same command: the stored answer again, nothing counted;
   the same pair with another command: INVALID_RETRY_REQUEST (9);
2. a TOKEN other than the one the register is to use now (or 0): INVALID_TOKEN (2);
3. the current TOKEN with the last exchange's REQNUM: INVALID_REQUEST_NUMBER (8);
4. else a new request.

The current token is the last exchange's `next_token`, unless the operator set one since (a newer version
of the register in the registry: `tracegate devices ofd-token`, or a registration): then the registry's,
and the last exchange no longer counts for rules 1 and 3 (its counters still stand).
"""

from __future__ import annotations

import enum
import logging
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from google.protobuf.message import DecodeError

from gateway.devices import Device
from gateway.ofd.framing import FrameHeader
from gateway.ofd.keys import OfdKeys
from gateway.wire import pb

log = logging.getLogger(__name__)


class Verdict(enum.Enum):
    """What the rules say about a request (the module docstring)."""

    NEW = "new"
    RESEND = "resend"
    INVALID_TOKEN = "invalid_token"
    INVALID_REQUEST_NUMBER = "invalid_request_number"
    INVALID_RETRY_REQUEST = "invalid_retry_request"


@dataclass(frozen=True, slots=True)
class Remembered:
    """A register's last exchange, as the gateway holds it in memory."""

    number: int  # the register's exchanges counted by the gateway
    answered_ms: int
    exchange: pb.OfdExchange


def _context(ofd_id: int, number: int) -> bytes:
    return b"tracegate-ofd-exchange-v1:" + struct.pack(">IQ", ofd_id, number)


class RegisterExchanges:
    """Every OFD register's last exchange (see the module docstring)."""

    def __init__(self, keys: OfdKeys) -> None:
        self._keys = keys
        self._last: dict[int, Remembered] = {}

    def last(self, ofd_id: int) -> Remembered | None:
        """The register's last exchange, or None if it has had none."""
        return self._last.get(ofd_id)

    def state(self, ofd_id: int) -> pb.OfdRegisterState | None:
        """The register's counters after its last exchange (None: never heard from)."""
        last = self._last.get(ofd_id)
        return None if last is None else last.exchange.state

    def current_token_set_by_operator(self, device: Device) -> bool:
        """True when the registry's token is the one to use (no exchange since the operator set it)."""
        assert device.ofd is not None
        last = self._last.get(device.ofd.ofd_id)
        return last is None or device.updated_ms > last.answered_ms

    def judge(self, device: Device, header: FrameHeader, command: int) -> tuple[Verdict, bytes]:
        """The rules' verdict on a request, and for a resend the answer to send again."""
        assert device.ofd is not None
        last = self._last.get(device.ofd.ofd_id)
        if self.current_token_set_by_operator(device) or last is None:
            current = self._keys.token_matches(device.ofd.ofd_id, header.token, device.ofd.token_mac)
            return (Verdict.NEW if current and header.token else Verdict.INVALID_TOKEN), b""
        stored = last.exchange
        if (header.token, header.reqnum) == (stored.token, stored.reqnum):
            if command == stored.command:
                return Verdict.RESEND, stored.answer
            return Verdict.INVALID_RETRY_REQUEST, b""
        if header.token == 0 or header.token != stored.next_token:
            return Verdict.INVALID_TOKEN, b""
        if header.reqnum == stored.reqnum:
            return Verdict.INVALID_REQUEST_NUMBER, b""
        return Verdict.NEW, b""

    def knows_token(self, device: Device, token: int) -> bool:
        """True if token is one the register may rightly hold: its current one, its last exchange's (a
        resend), or the one the operator set. Unlike judge(), it holds after a revocation (which makes a
        newer version of the register, so judge() would take only the operator's token for current): it
        decides who may be told the register is deregistered (gateway/ofd/dispatch.py)."""
        assert device.ofd is not None
        if token == 0:
            return False
        last = self._last.get(device.ofd.ofd_id)
        if last is not None and token in (last.exchange.token, last.exchange.next_token):
            return True
        return self._keys.token_matches(device.ofd.ofd_id, token, device.ofd.token_mac)

    def next_number(self, ofd_id: int) -> int:
        """The number the register's next exchange gets."""
        last = self._last.get(ofd_id)
        return 1 if last is None else last.number + 1

    def log(self, ofd_id: int, number: int, exchange: pb.OfdExchange, answered_ms: int) -> pb.OfdExchangeLog:
        """The journalled form of an exchange: ids in clear, the exchange sealed."""
        sealed = self._keys.seal(exchange.SerializeToString(), _context(ofd_id, number))
        return pb.OfdExchangeLog(ofd_id=ofd_id, number=number, answered_ms=answered_ms,
                                 command=exchange.command, sealed=sealed)

    def remember(self, ofd_id: int, remembered: Remembered) -> None:
        """Make an exchange the register's last (once the journal holds it)."""
        current = self._last.get(ofd_id)
        if current is None or remembered.number > current.number:
            self._last[ofd_id] = remembered

    def restore(self, logs: Iterable[pb.OfdExchangeLog]) -> int:
        """Take journalled or stored exchanges (any order), keeping each register's newest; returns how many
        were read. One that does not open (another installation's key, damage) is skipped, logged."""
        count = 0
        for entry in logs:
            try:
                plain = self._keys.open(entry.sealed, _context(entry.ofd_id, entry.number))
                exchange = pb.OfdExchange.FromString(plain)
            except (InvalidTag, DecodeError, ValueError):
                log.error("OFD exchange %d of register %d does not open: is ofd.key this installation's?",
                          entry.number, entry.ofd_id)
                continue
            self.remember(entry.ofd_id, Remembered(entry.number, entry.answered_ms, exchange))
            count += 1
        return count

    def __len__(self) -> int:
        return len(self._last)

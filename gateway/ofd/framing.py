"""OFD 2.0.x frames: the 18-byte little-endian header, versions, commands, result codes, payload decoding.

A frame is HEADER(18) ‖ protobuf payload (proto/ofd/v2/ofd.proto); the header's SIZE counts the header
too. Nothing here does I/O: the front door (gateway/ofd/server.py), the register simulator and the load
generator all frame and unframe through these functions.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Generic, TypeVar

from google.protobuf.message import DecodeError
from google.protobuf.unknown_fields import UnknownFieldSet

from gateway.wire import ofd_pb2

APPCODE = 0x81A2
HEADER_SIZE = 18
HEADER = struct.Struct("<HHIIIH")  # APPCODE, VERSION, SIZE, ID, TOKEN, REQNUM (any values: tests, tools)
# The protocol sets no maximum; one register client caps answers at 5 MiB. Requests are far smaller
# (a receipt of 1,000 marked lines is ~150 KiB), so the front door's default (settings) is lower.
DEFAULT_MAX_FRAME_BYTES = 1024 * 1024
MAX_REQNUM = 0xFFFF
MAX_U32 = 0xFFFF_FFFF


class ProtocolVersion(IntEnum):
    """The header's VERSION: X.Y.Z as the number XYZ."""

    V202 = 202
    V203 = 203


KNOWN_VERSIONS = frozenset(int(v) for v in ProtocolVersion)


class Command(IntEnum):
    """Request.command / Response.command (ofd.proto CommandType)."""

    SYSTEM = 0
    TICKET = 1
    CLOSE_SHIFT = 2
    REPORT = 3
    NOMENCLATURE = 4
    INFO = 5
    MONEY_PLACEMENT = 6
    CANCEL_TICKET = 7
    AUTH = 8
    RESERVED = 127


class ResultCode(IntEnum):
    """Result.result_code (ofd.proto ResultType); what a register must do on each: the design document §3."""

    OK = 0
    UNKNOWN_ID = 1
    INVALID_TOKEN = 2
    PROTOCOL_ERROR = 3
    UNKNOWN_COMMAND = 4
    UNSUPPORTED_COMMAND = 5
    INVALID_CONFIGURATION = 6
    SSL_IS_NOT_ALLOWED = 7
    INVALID_REQUEST_NUMBER = 8
    INVALID_RETRY_REQUEST = 9
    CANT_CANCEL_TICKET = 10
    OPEN_SHIFT_TIMEOUT_EXPIRED = 11
    INVALID_LOGIN_PASSWORD = 12
    INCORRECT_REQUEST_DATA = 13
    NOT_ENOUGH_CASH = 14
    BLOCKED = 15
    SHIFT_ALREADY_OPENED = 16
    SAME_TAXPAYER_AND_CUSTOMER = 17
    ELEMENT_NOT_FOUND_BY_BARCODE = 18
    SERVICE_TEMPORARILY_UNAVAILABLE = 254
    UNKNOWN_ERROR = 255


class FrameErrorReason(StrEnum):
    """Why bytes are not a usable OFD frame (a metrics label, so a closed set)."""

    SHORT_HEADER = "short_header"  # fewer than 18 bytes
    BAD_APPCODE = "bad_appcode"  # not OFD at all (an HTTP or TLS client, a scanner)
    SIZE_TOO_SMALL = "size_too_small"  # SIZE < 18
    SIZE_TOO_LARGE = "size_too_large"  # SIZE above the front door's limit
    UNKNOWN_VERSION = "unknown_version"
    TRUNCATED = "truncated"  # fewer than SIZE bytes
    UNDECODABLE = "undecodable"  # the payload is not protobuf of the expected message
    READ_TIMEOUT = "read_timeout"  # the transport's: the bytes did not come in time


class FrameError(Exception):
    """Bytes that are not a usable OFD frame; `header` is set when one was read, so an answer can echo
    its ID and REQNUM."""

    def __init__(self, reason: FrameErrorReason, detail: str, header: FrameHeader | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.header = header


@dataclass(frozen=True, slots=True)
class FrameHeader:
    """One frame's header; `size` is the whole frame's length, header included."""

    version: int
    size: int
    device_id: int  # the header's ID: issued by the OFD at registration (= KkmRegInfo.kkm_id)
    token: int
    reqnum: int

    @property
    def payload_size(self) -> int:
        """How many payload bytes follow the header."""
        return self.size - HEADER_SIZE


def parse_header(data: bytes | bytearray, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> FrameHeader:
    """The header in the first 18 bytes of data; raises FrameError (with the header once APPCODE matched)."""
    if len(data) < HEADER_SIZE:
        raise FrameError(FrameErrorReason.SHORT_HEADER, f"{len(data)} bytes, a header has {HEADER_SIZE}")
    appcode, version, size, device_id, token, reqnum = HEADER.unpack_from(data)
    if appcode != APPCODE:
        raise FrameError(FrameErrorReason.BAD_APPCODE, f"APPCODE 0x{appcode:04X}, not 0x{APPCODE:04X}")
    header = FrameHeader(version, size, device_id, token, reqnum)
    if size < HEADER_SIZE:
        raise FrameError(FrameErrorReason.SIZE_TOO_SMALL, f"SIZE {size} < {HEADER_SIZE}", header)
    if size > max_frame_bytes:
        raise FrameError(FrameErrorReason.SIZE_TOO_LARGE, f"SIZE {size} > limit {max_frame_bytes}", header)
    if version not in KNOWN_VERSIONS:
        known = ", ".join(str(v) for v in sorted(KNOWN_VERSIONS))
        raise FrameError(FrameErrorReason.UNKNOWN_VERSION, f"VERSION {version}, known: {known}", header)
    return header


def split_frame(data: bytes, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> tuple[FrameHeader, bytes]:
    """A whole frame from data: its header and exactly SIZE-18 payload bytes (anything after SIZE is not
    this frame's, and ignored); raises FrameError."""
    header = parse_header(data, max_frame_bytes)
    if len(data) < header.size:
        raise FrameError(
            FrameErrorReason.TRUNCATED, f"{len(data)} of SIZE {header.size} bytes", header
        )
    return header, bytes(data[HEADER_SIZE : header.size])


def encode_frame(payload: bytes, *, version: int, device_id: int, token: int, reqnum: int) -> bytes:
    """Header + payload; raises ValueError for a field outside its width."""
    size = HEADER_SIZE + len(payload)
    for name, value, top in (
        ("version", version, 0xFFFF), ("size", size, MAX_U32), ("device_id", device_id, MAX_U32),
        ("token", token, MAX_U32), ("reqnum", reqnum, MAX_REQNUM),
    ):
        if not 0 <= value <= top:
            raise ValueError(f"{name} {value} outside 0..{top}")
    return HEADER.pack(APPCODE, version, size, device_id, token, reqnum) + payload


def next_reqnum(reqnum: int) -> int:
    """The REQNUM of a register's next new request: +1, 0 after 65535."""
    return (reqnum + 1) & MAX_REQNUM


def encode_varint(value: int) -> bytes:
    """A protobuf varint (value 0 to 2^64-1)."""
    if not 0 <= value < 1 << 64:
        raise ValueError(f"{value} is not a varint")
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def peek_command(payload: bytes) -> int | None:
    """Request.command / Response.command without decoding the rest (metrics, logs); None if absent or the
    bytes do not read."""
    return _peek_varint(payload, 1)


def peek_result_code(payload: bytes) -> int | None:
    """Response.result.result_code without decoding the rest; None if absent or unreadable."""
    result = _peek_field(payload, 2)
    return _peek_varint(result, 1) if isinstance(result, bytes) else None


def _peek_varint(data: bytes, number: int) -> int | None:
    value = _peek_field(data, number)
    return value if isinstance(value, int) else None


def _peek_field(data: bytes, number: int) -> int | bytes | None:
    """The last top-level occurrence of field `number` (as protobuf reads it): a varint's value or a
    length-delimited field's bytes; other wire types and malformed bytes give None."""
    found: int | bytes | None = None
    pos, end = 0, len(data)
    try:
        while pos < end:
            tag, pos = _read_varint(data, pos)
            wire = tag & 7
            if wire == 0:
                value, pos = _read_varint(data, pos)
                if tag >> 3 == number:
                    found = value
            elif wire == 2:
                length, pos = _read_varint(data, pos)
                if pos + length > end:
                    return None
                if tag >> 3 == number:
                    found = data[pos : pos + length]
                pos += length
            elif wire in (1, 5):
                pos += 8 if wire == 1 else 4
            else:
                return None
    except IndexError:
        return None
    return found if pos == end else None


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise IndexError("varint longer than 10 bytes")


M = TypeVar("M", ofd_pb2.Request, ofd_pb2.Response)


@dataclass(frozen=True, slots=True)
class Decoded(Generic[M]):
    """A payload decoded partially: what is missing is listed, never raised from deep inside."""

    message: M
    missing: tuple[str, ...]  # paths of absent required fields, e.g. "ticket.amounts"
    command: int | None  # field 1 as sent, also a number the CommandType enum does not know; None: absent

    @property
    def complete(self) -> bool:
        """Every required field is present."""
        return not self.missing


def _decode(message: M, payload: bytes) -> Decoded[M]:
    try:
        # Partial: proto2 `required` is checked below and reported, so the answer can name the field.
        message.MergeFromString(payload)
    except DecodeError as exc:
        raise FrameError(FrameErrorReason.UNDECODABLE, f"not a {message.DESCRIPTOR.name}: {exc}") from None
    command: int | None = None
    if message.HasField("command"):
        command = int(message.command)
    else:
        # proto2 enums are closed: a value CommandType lacks (a newer version's command) lands here.
        unknown = UnknownFieldSet(message)
        for i in range(len(unknown)):  # the stubs know no __iter__
            if unknown[i].field_number == 1 and isinstance(unknown[i].data, int):
                command = unknown[i].data
    # The stubs lack FindInitializationErrors; upb and the pure-Python runtime both have it.
    missing = tuple(message.FindInitializationErrors())  # type: ignore[attr-defined]
    return Decoded(message, missing, command)


def as_text(value: str | bytes) -> str:
    """A proto2 string field's value as text: upb hands a string that is not UTF-8 over as bytes (it does
    not refuse the message), so every reader of register-sent text goes through here."""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def decode_request(payload: bytes) -> Decoded[ofd_pb2.Request]:
    """A register's Request; raises FrameError(UNDECODABLE) when the bytes are not protobuf of it."""
    return _decode(ofd_pb2.Request(), payload)


def decode_response(payload: bytes) -> Decoded[ofd_pb2.Response]:
    """An OFD's Response; raises FrameError(UNDECODABLE) when the bytes are not protobuf of it."""
    return _decode(ofd_pb2.Response(), payload)

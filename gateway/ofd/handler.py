"""What the OFD front door hands every well-framed request to, and how any side frames an answer."""

from __future__ import annotations

from typing import Protocol

from gateway.ofd.framing import Command, FrameHeader, ResultCode, encode_frame, encode_varint
from gateway.wire import ofd_pb2


class OfdHandler(Protocol):
    """Answers one register's request; the transport (gateway/ofd/server.py) does the rest."""

    async def exchange(self, header: FrameHeader, payload: bytes) -> bytes:
        """The whole answer frame (header + Response) for one request frame; never raises for bad input."""
        ...


def answer_frame(request: FrameHeader, response: ofd_pb2.Response, *, token: int | None = None) -> bytes:
    """The answer to request: its VERSION, ID and REQNUM; TOKEN = the one the register is to use next
    (default: the request's own). Raises EncodeError if response lacks a required field (our bug)."""
    return encode_frame(
        response.SerializeToString(),
        version=request.version,
        device_id=request.device_id,
        token=request.token if token is None else token,
        reqnum=request.reqnum,
    )


def result_answer(request: FrameHeader, code: ResultCode, text: str = "", *, command: int | None) -> bytes:
    """An answer that is only a result code (an error, or an OK without a body), TOKEN unchanged.

    command: the request's command as sent, echoed as the protocol asks, even one CommandType does not
    know (a newer version's); None when it could not be read (then COMMAND_SYSTEM).
    """
    response = ofd_pb2.Response(result=ofd_pb2.Result(result_code=code))
    if text:
        response.result.result_text = text
    if command is not None and not 0 <= command < 1 << 64:
        command = None  # not a number a varint can carry: nobody sent it
    if command is not None and command not in ofd_pb2.CommandType.values():
        # proto2 enums are closed, so the number cannot be set on the message: write field 1 ourselves.
        payload = encode_varint(1 << 3) + encode_varint(command) + response.SerializePartialToString()
    else:
        response.command = Command.SYSTEM if command is None else command  # type: ignore[assignment]
        payload = response.SerializeToString()
    return encode_frame(
        payload, version=request.version, device_id=request.device_id, token=request.token,
        reqnum=request.reqnum,
    )


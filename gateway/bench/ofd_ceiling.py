"""Baseline "OFD ceiling": the OFD front door's own transport with a handler that only decodes each
Request and answers OK (a ticket number, the next token).

Not an OFD: no token is checked, nothing is journalled or stored. It measures what one connection per
exchange, the framing and protobuf decoding allow on this machine, so the real gateway's OFD figures
can be read as a share of it. Run: python -m gateway.bench.ofd_ceiling --port P --ofd-port Q
(P answers /healthz).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools

from aiohttp import web

from gateway.observability.prometheus import Registry
from gateway.ofd.framing import (
    MAX_U32,
    Command,
    FrameError,
    FrameHeader,
    ResultCode,
    decode_request,
    peek_command,
)
from gateway.ofd.handler import answer_frame, result_answer
from gateway.ofd.server import OfdFrontDoor, OfdMetrics
from gateway.settings import Settings
from gateway.wire import ofd_pb2


class DecodeAndAnswer:
    """An OfdHandler that decodes and answers OK, nothing else."""

    def __init__(self) -> None:
        self.numbers = itertools.count(1)

    async def exchange(self, header: FrameHeader, payload: bytes) -> bytes:
        """OK with a ticket number for a TICKET; PROTOCOL_ERROR for what does not decode."""
        try:
            decoded = decode_request(payload)
        except FrameError as error:
            command = peek_command(payload)
            return result_answer(header, ResultCode.PROTOCOL_ERROR, error.detail, command=command)
        if not decoded.complete or decoded.command is None:
            return result_answer(header, ResultCode.PROTOCOL_ERROR, "incomplete", command=decoded.command)
        response = ofd_pb2.Response(command=decoded.message.command, result=ofd_pb2.Result(result_code=0))
        if decoded.command == Command.TICKET:
            response.ticket.ticket_number = str(next(self.numbers))
        return answer_frame(header, response, token=(header.token + 1) & MAX_U32 or 1)


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def serve(port: int, ofd_port: int) -> None:
    """/healthz on 127.0.0.1:port, the OFD door on 127.0.0.1:ofd_port, until cancelled."""
    app = web.Application()
    app.router.add_get("/healthz", _healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    settings = dataclasses.replace(Settings(host="127.0.0.1"), ofd_port=ofd_port, ofd_rate_remote_per_s=0,
                                   ofd_max_connections=100_000)
    door = OfdFrontDoor(settings, DecodeAndAnswer(), OfdMetrics(Registry()))
    await door.start()
    try:
        await asyncio.Event().wait()
    finally:
        await door.stop()
        await runner.cleanup()


def main() -> None:
    """Serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ofd-port", type=int, required=True)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.ofd_port))


if __name__ == "__main__":
    main()

"""The OFD front door's transport: registers' TCP connections, frames read to SIZE under time limits,
each well-framed request handed to an OfdHandler, protocol faults answered PROTOCOL_ERROR or cut off.

Runs in the gateway's event loop beside aiohttp. One connection may carry several exchanges (registers
open one per exchange). A connection that misbehaves is closed; nobody else notices.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import ssl

from gateway.observability.gateway_metrics import LATENCY_BUCKETS
from gateway.observability.logs import REQUEST_ID
from gateway.observability.prometheus import Counter, Gauge, Histogram, Registry
from gateway.ofd.framing import (
    HEADER_SIZE,
    Command,
    FrameError,
    FrameErrorReason,
    FrameHeader,
    ResultCode,
    parse_header,
    peek_command,
    peek_result_code,
)
from gateway.ofd.handler import OfdHandler, result_answer
from gateway.security.rate_limits import RateLimiter
from gateway.security.transport import server_ssl_context
from gateway.settings import Settings

log = logging.getLogger(__name__)
access_log = logging.getLogger("gateway.ofd.access")

LINGER_S = 1.0  # after an error answer, how long unread input is drained so the answer is not reset away
LINGER_BYTES = 1024 * 1024
STOP_GRACE_S = 5.0  # exchanges in flight at shutdown get this long to finish


class OfdMetrics:
    """The front door's metrics, registered into the gateway's /metrics registry."""

    def __init__(self, registry: Registry) -> None:
        self.connections_open = Gauge("tracegate_ofd_connections_open", "OFD connections open now.")
        self.connections = Counter("tracegate_ofd_connections_total", "OFD connections accepted.")
        self.refused = Counter(
            "tracegate_ofd_refused_total", "OFD connections or exchanges refused before the handler: "
            "connection_limit (closed at once), rate_limited (answered 254).", ["reason"])
        self.frames = Counter(
            "tracegate_ofd_frames_total", "OFD requests answered, by command and result code.",
            ["command", "result"])
        self.protocol_errors = Counter(
            "tracegate_ofd_protocol_errors_total", "Bytes that were not a usable OFD frame, by reason "
            "(answered PROTOCOL_ERROR where the header allowed it, else the connection closed).", ["reason"])
        self.failures = Counter(
            "tracegate_ofd_exchange_failures_total", "Exchanges that ended without an answer delivered: "
            "exchange_timeout, handler_error (answered 255), write_timeout, connection_lost.", ["reason"])
        self.answer_seconds = Histogram(
            "tracegate_ofd_answer_duration_seconds", "From a request's first byte to its answer written, "
            "by command.", LATENCY_BUCKETS, ["command"])
        for metric in (self.connections_open, self.connections, self.refused, self.frames,
                       self.protocol_errors, self.failures, self.answer_seconds):
            registry.add(metric)


@dataclasses.dataclass(frozen=True)
class _Limits:
    read_s: float
    exchange_s: float
    max_frame_bytes: int
    max_connections: int


def ofd_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """TLS for the front door from its own certificate files, or None; with a client CA every connection
    must present a certificate (all OFD clients are registers)."""
    if not settings.ofd_tls_cert_file:
        return None
    context = server_ssl_context(dataclasses.replace(
        settings, tls_cert_file=settings.ofd_tls_cert_file, tls_key_file=settings.ofd_tls_key_file,
        tls_client_ca_file=settings.ofd_tls_client_ca_file,
    ))
    assert context is not None
    if settings.ofd_tls_client_ca_file:
        context.verify_mode = ssl.CERT_REQUIRED
    return context


class OfdFrontDoor:
    """The listening socket and every connection on it."""

    def __init__(self, settings: Settings, handler: OfdHandler, metrics: OfdMetrics) -> None:
        self.settings = settings
        self.handler = handler
        self.metrics = metrics
        self.limits = _Limits(settings.ofd_read_timeout_s, settings.ofd_exchange_timeout_s,
                              settings.ofd_max_frame_bytes, settings.ofd_max_connections)
        self.remote_limits = RateLimiter(settings.ofd_rate_remote_per_s, settings.ofd_rate_remote_burst)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        # Handler calls outlive a connection that gave up on them: they finish (the answer is durable and
        # a resend gets it), and stop() waits for them.
        self._exchanges: set[asyncio.Future[bytes]] = set()

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """(host, port) of every listening socket; the port is the real one when 0 was asked."""
        assert self._server is not None
        return [s.getsockname()[:2] for s in self._server.sockets]

    async def start(self) -> None:
        """Listen on ofd_host (empty: the HTTP host) : ofd_port."""
        ssl_context = ofd_ssl_context(self.settings)
        self._server = await asyncio.start_server(
            self._serve, self.settings.ofd_host or self.settings.host, self.settings.ofd_port,
            ssl=ssl_context, ssl_handshake_timeout=self.limits.read_s if ssl_context else None,
            backlog=1024, reuse_address=True,
        )
        log.info("OFD front door listening on %s%s",
                 ", ".join(f"{h}:{p}" for h, p in self.addresses), " (TLS)" if ssl_context else "")

    async def stop(self) -> None:
        """Stop listening, let the handler calls in flight finish (STOP_GRACE_S), then close every
        connection: an answer not yet written is the register's to ask again (it resends the same bytes)."""
        if self._server is not None:
            self._server.close()
        if self._exchanges:
            await asyncio.wait(list(self._exchanges), timeout=STOP_GRACE_S)
        for task in list(self._connections):
            task.cancel()
        for task in list(self._connections):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._connections) >= self.limits.max_connections:
            self.metrics.refused.inc(reason="connection_limit")
            writer.transport.abort()
            return
        peer = writer.get_extra_info("peername")
        remote = str(peer[0]) if isinstance(peer, tuple) else str(peer or "")
        # drain() then returns only once an answer is wholly in the kernel's hands, so closing loses nothing.
        writer.transport.set_write_buffer_limits(high=0)
        self._connections.add(task)
        self.metrics.connections.inc()
        self.metrics.connections_open.set(len(self._connections))
        try:
            while await self._exchange(reader, writer, remote):
                pass
        except _Ended:
            pass
        except (ConnectionError, OSError):
            self.metrics.failures.inc(reason="connection_lost")
        finally:
            self._connections.discard(task)
            self.metrics.connections_open.set(len(self._connections))
            writer.close()

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, remote: str
    ) -> bool:
        """One request and its answer; False when the connection is over."""
        loop = asyncio.get_running_loop()
        try:
            # Waiting for a request is a read like any other: a quiet connection is closed.
            async with asyncio.timeout(self.limits.read_s):
                first = await reader.read(1)
        except TimeoutError:
            return False
        if not first:
            return False  # the register closed after its answer: the usual end
        started = loop.time()
        deadline = started + self.limits.exchange_s
        try:
            header = await self._read_header(reader, first, deadline)
            payload = await self._read_payload(reader, header, deadline)
        except FrameError as error:
            await self._refuse_frame(reader, writer, error)
            return False
        command = peek_command(payload)
        REQUEST_ID.set(os.urandom(8).hex())  # the handler's log lines and ours carry it
        if self.remote_limits.take(remote) > 0:
            self.metrics.refused.inc(reason="rate_limited")
            answer = result_answer(header, ResultCode.SERVICE_TEMPORARILY_UNAVAILABLE,
                                   "too many exchanges from this address; retry later", command=command)
        else:
            answer = await self._answer(header, payload, command, deadline)
        await self._write(writer, answer)
        command_name = _name(Command, command)
        result_name = _name(ResultCode, peek_result_code(answer[HEADER_SIZE:]))
        elapsed = loop.time() - started
        self.metrics.frames.inc(command=command_name, result=result_name)
        self.metrics.answer_seconds.observe(elapsed, command=command_name)
        access_log.info("ofd %s id=%d reqnum=%d %s -> %s in %.1f ms", remote, header.device_id,
                        header.reqnum, command_name, result_name, elapsed * 1000)
        return True

    def _read_timeout(self, deadline: float) -> asyncio.Timeout:
        """The limit of one read: read_s, or less when the exchange's deadline comes first."""
        return asyncio.timeout_at(min(deadline, asyncio.get_running_loop().time() + self.limits.read_s))

    async def _read_header(self, reader: asyncio.StreamReader, first: bytes, deadline: float) -> FrameHeader:
        try:
            async with self._read_timeout(deadline):
                rest = await reader.readexactly(HEADER_SIZE - 1)
        except TimeoutError:
            raise FrameError(FrameErrorReason.READ_TIMEOUT, "the header did not arrive in time") from None
        except asyncio.IncompleteReadError as exc:
            got = len(first) + len(exc.partial)
            raise FrameError(FrameErrorReason.SHORT_HEADER, f"{got} bytes, then the end") from None
        return parse_header(first + rest, self.limits.max_frame_bytes)

    async def _read_payload(
        self, reader: asyncio.StreamReader, header: FrameHeader, deadline: float
    ) -> bytes:
        try:
            async with self._read_timeout(deadline):
                return await reader.readexactly(header.payload_size)
        except TimeoutError:
            detail = f"the payload ({header.payload_size} bytes) did not arrive in time"
            raise FrameError(FrameErrorReason.READ_TIMEOUT, detail, header) from None
        except asyncio.IncompleteReadError as exc:
            detail = f"{len(exc.partial)} of {header.payload_size} payload bytes, then the end"
            raise FrameError(FrameErrorReason.TRUNCATED, detail, header) from None

    async def _answer(
        self, header: FrameHeader, payload: bytes, command: int | None, deadline: float
    ) -> bytes:
        """The handler's answer, or 255 if it failed. A handler slower than the exchange's time limit is
        left to finish (its answer is stored for the register's resend) and the connection ends."""
        exchange = asyncio.ensure_future(self.handler.exchange(header, payload))
        self._exchanges.add(exchange)
        exchange.add_done_callback(self._exchanges.discard)
        try:
            async with asyncio.timeout_at(deadline):
                return await asyncio.shield(exchange)
        except TimeoutError:
            self.metrics.failures.inc(reason="exchange_timeout")
            log.warning("OFD exchange of id %d reqnum %d took longer than %.1f s: connection closed, the "
                        "handler goes on", header.device_id, header.reqnum, self.limits.exchange_s)
            exchange.add_done_callback(_log_late_failure)
            raise _Ended from None
        except Exception:
            self.metrics.failures.inc(reason="handler_error")
            log.exception("OFD handler failed on id %d reqnum %d", header.device_id, header.reqnum)
            return result_answer(header, ResultCode.UNKNOWN_ERROR, "internal error; it has been logged",
                                 command=command)

    async def _write(self, writer: asyncio.StreamWriter, answer: bytes) -> None:
        writer.write(answer)
        try:
            async with asyncio.timeout(self.limits.read_s):
                await writer.drain()
        except TimeoutError:
            self.metrics.failures.inc(reason="write_timeout")
            raise _Ended from None

    async def _refuse_frame(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, error: FrameError
    ) -> None:
        """Count and log bytes that are not a usable frame; answer PROTOCOL_ERROR when their header was
        read (same ID and REQNUM), then linger briefly so that unread input does not turn the close into a
        reset that loses the answer. The connection ends either way."""
        self.metrics.protocol_errors.inc(reason=error.reason.value)
        who = f" from id {error.header.device_id}" if error.header is not None else ""
        log.info("OFD protocol error%s: %s", who, error)
        if error.header is None:
            return  # nothing tells where an answer would go (not OFD, or not even a header)
        writer.write(result_answer(error.header, ResultCode.PROTOCOL_ERROR, error.detail, command=None))
        with contextlib.suppress(TimeoutError, ConnectionError, OSError):
            async with asyncio.timeout(LINGER_S):
                await writer.drain()
                if writer.can_write_eof():
                    writer.write_eof()
                drained = 0
                while drained < LINGER_BYTES and (chunk := await reader.read(65536)):
                    drained += len(chunk)


class _Ended(Exception):
    """The connection ends without (another) answer."""


def _log_late_failure(exchange: asyncio.Future[bytes]) -> None:
    if not exchange.cancelled() and exchange.exception() is not None:
        log.error("OFD handler failed after its connection gave up", exc_info=exchange.exception())


def _name(kind: type[Command] | type[ResultCode], value: int | None) -> str:
    if value is None:
        return "none"
    try:
        return kind(value).name
    except ValueError:
        return str(value) if value < 1000 else "other"  # a label's values stay few

"""The OFD front door's transport: registers' TCP connections, frames read to SIZE under time limits,
each well-framed request handed to an OfdHandler, protocol faults answered PROTOCOL_ERROR or cut off.

Runs in the gateway's event loop beside aiohttp. One connection may carry several exchanges (registers
open one per exchange, so accepting and closing is most of the work: an asyncio.Protocol with timer
handles, not streams and timeout contexts, costs about half as much CPU an exchange). A connection that
misbehaves is closed; nobody else notices. Before the handler, two refusals answered 254 (retry later):
an address over its rate limit, and an address out of wrong tokens for the header's ID
(gateway/ofd/token_failures.py; the answers 2 the handler gives are counted here, where the address is
known).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import ssl
from collections.abc import Callable

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
from gateway.ofd.token_failures import TokenFailures, source_of
from gateway.security.random_ids import random_bytes
from gateway.security.rate_limits import RateLimiter
from gateway.security.transport import server_ssl_context
from gateway.settings import Settings

log = logging.getLogger(__name__)
access_log = logging.getLogger("gateway.ofd.access")

LINGER_S = 1.0  # after an error answer, how long unread input is drained so the answer is not reset away
LINGER_BYTES = 1024 * 1024
STOP_GRACE_S = 5.0  # handler calls in flight at shutdown get this long to finish


class OfdMetrics:
    """The front door's metrics, registered into the gateway's /metrics registry."""

    def __init__(self, registry: Registry) -> None:
        self.connections_open = Gauge("tracegate_ofd_connections_open", "OFD connections open now.")
        self.connections = Counter("tracegate_ofd_connections_total", "OFD connections accepted.")
        self.refused = Counter(
            "tracegate_ofd_refused_total", "OFD connections or exchanges refused before the handler: "
            "connection_limit (closed at once), rate_limited (answered 254), token_failures (answered "
            "254: this address sent too many wrong tokens for this register ID).", ["reason"])
        self.frames = Counter(
            "tracegate_ofd_frames_total", "OFD requests answered, by command and result code.",
            ["command", "result"])
        self.protocol_errors = Counter(
            "tracegate_ofd_protocol_errors_total", "Bytes that were not a usable OFD frame, by reason "
            "(answered PROTOCOL_ERROR where the header allowed it, else the connection closed).", ["reason"])
        self.failures = Counter(
            "tracegate_ofd_exchange_failures_total", "Exchanges that ended without an answer delivered "
            "(exchange_timeout: the handler goes on and stores its answer for the resend; "
            "connection_lost) or with 255 (handler_error).", ["reason"])
        self.answer_seconds = Histogram(
            "tracegate_ofd_answer_duration_seconds", "From a request's first byte to its answer written, "
            "by command.", LATENCY_BUCKETS, ["command"])
        for metric in (self.connections_open, self.connections, self.refused, self.frames,
                       self.protocol_errors, self.failures, self.answer_seconds):
            registry.add(metric)


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
        self.read_s = settings.ofd_read_timeout_s
        self.exchange_s = settings.ofd_exchange_timeout_s
        self.max_frame_bytes = settings.ofd_max_frame_bytes
        self.remote_limits = RateLimiter(settings.ofd_rate_remote_per_s, settings.ofd_rate_remote_burst)
        self.token_failures = TokenFailures(settings.ofd_token_failures_burst,
                                            settings.ofd_token_failures_per_min)
        self.connections: set[_Connection] = set()
        # Handler calls outlive a connection that gave up on them: they finish (the answer is durable and
        # a resend gets it), and stop() waits for them.
        self.exchanges: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """(host, port) of every listening socket; the port is the real one when 0 was asked."""
        assert self._server is not None
        return [s.getsockname()[:2] for s in self._server.sockets]

    async def start(self) -> None:
        """Listen on ofd_host (empty: the HTTP host) : ofd_port."""
        ssl_context = ofd_ssl_context(self.settings)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), self.settings.ofd_host or self.settings.host, self.settings.ofd_port,
            ssl=ssl_context, ssl_handshake_timeout=self.read_s if ssl_context else None,
            backlog=1024, reuse_address=True,
        )
        log.info("OFD front door listening on %s%s",
                 ", ".join(f"{h}:{p}" for h, p in self.addresses), " (TLS)" if ssl_context else "")

    async def stop(self) -> None:
        """Stop listening, let the handler calls in flight finish (STOP_GRACE_S), then close every
        connection: an answer not yet written is the register's to ask again (it resends the same bytes)."""
        if self._server is not None:
            self._server.close()
        if self.exchanges:
            await asyncio.wait(list(self.exchanges), timeout=STOP_GRACE_S)
        for connection in list(self.connections):
            connection.abort()
        if self._server is not None:
            await self._server.wait_closed()


class _Connection(asyncio.Protocol):
    """One register's connection: a small state machine driven by the bytes, the timers and the handler.

    idle (waiting for a request's first byte, read_s) → header → payload (each read_s, within exchange_s
    of the first byte) → busy (the handler; the exchange's deadline still runs) → the answer is written →
    idle again; on a fault: an answer if one is possible, then lingering → closed.
    """

    def __init__(self, door: OfdFrontDoor) -> None:
        self.door = door
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.remote = ""
        self.source = ""  # what the token-failure budget is kept for (gateway/ofd/token_failures.py)
        self.buffer = bytearray()
        self.header: FrameHeader | None = None
        self.started = 0.0  # loop time of the current request's first byte
        self.deadline = 0.0
        self.busy = False  # the handler has the current request
        self.eof = False  # the peer will send nothing more
        self.lingering = 0  # > 0: after a fault, bytes drained before the close
        self.reading = 0  # the part of the frame the read timer waits for (_await_read)
        self.timer: asyncio.TimerHandle | None = None

    # ── asyncio.Protocol ──

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Count it (or refuse it over the connection limit) and wait for a request."""
        assert isinstance(transport, asyncio.Transport)
        door = self.door
        if len(door.connections) >= door.settings.ofd_max_connections:
            door.metrics.refused.inc(reason="connection_limit")
            transport.abort()
            return
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.remote = str(peer[0]) if isinstance(peer, tuple) else str(peer or "")
        self.source = source_of(self.remote)
        door.connections.add(self)
        door.metrics.connections.inc()
        door.metrics.connections_open.set(len(door.connections))
        self._arm(self.loop.time() + door.read_s, self._idle_timeout)

    def data_received(self, data: bytes) -> None:
        """Collect bytes; a whole frame goes to the handler unless one is already with it."""
        if self.lingering:
            self.lingering += len(data)
            if self.lingering > LINGER_BYTES:
                self.abort()
            return
        self.buffer += data
        if not self.busy:
            self._advance()
        elif len(self.buffer) > self.door.max_frame_bytes and self.transport is not None:
            self.transport.pause_reading()  # a pipelining peer waits for its earlier answer

    def eof_received(self) -> bool:
        """The peer sent all it will: a frame cut short is a fault; a request with the handler is still
        answered (the transport stays open for that)."""
        self.eof = True
        if self.lingering:
            return False
        self._advance()
        return self.busy

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection; a handler call in flight finishes on its own."""
        if self.transport is None:
            return  # refused at once
        self._disarm()
        if self.busy:
            self.door.metrics.failures.inc(reason="connection_lost")
        self.door.connections.discard(self)
        self.door.metrics.connections_open.set(len(self.door.connections))
        self.transport = None

    def abort(self) -> None:
        """Close now, dropping anything unsent."""
        if self.transport is not None:
            self.transport.abort()

    # ── reading a frame ──

    def _advance(self) -> None:
        """Take the next request as far as its bytes go (called whenever the handler is free)."""
        if not self.buffer or self.busy or self.transport is None or self.lingering:
            return
        if self.header is None:
            if not self.started:
                now = self.loop.time()
                self.started, self.deadline = now, now + self.door.exchange_s
            if len(self.buffer) < HEADER_SIZE:
                self._await_read(1)
                return
            try:
                self.header = parse_header(self.buffer, self.door.max_frame_bytes)
            except FrameError as error:
                self._refuse(error)
                return
        size = self.header.size
        if len(self.buffer) < size:
            self._await_read(2)
            return
        payload = bytes(self.buffer[HEADER_SIZE:size])
        del self.buffer[:size]
        self._dispatch(self.header, payload)

    def _await_read(self, part: int) -> None:
        """Wait for more of the header (1) or the payload (2): read_s for each part, within the exchange's
        deadline. A frame that comes whole in one segment, the usual case, never arms this timer. After
        the peer's end of input nothing more comes: the frame was cut short."""
        if self.eof:
            if self.header is None:
                error = FrameError(FrameErrorReason.SHORT_HEADER, f"{len(self.buffer)} bytes, then the end")
            else:
                error = FrameError(FrameErrorReason.TRUNCATED, f"{len(self.buffer) - HEADER_SIZE} of "
                                   f"{self.header.payload_size} payload bytes, then the end", self.header)
            self._refuse(error)
            return
        if self.reading != part:
            self.reading = part
            self._arm(min(self.deadline, self.loop.time() + self.door.read_s), self._read_timeout)

    def _read_timeout(self) -> None:
        if self.header is None:
            self._refuse(FrameError(FrameErrorReason.READ_TIMEOUT, "the header did not arrive in time"))
        else:
            self._refuse(FrameError(FrameErrorReason.READ_TIMEOUT, f"the payload ({self.header.payload_size} "
                                    "bytes) did not arrive in time", self.header))

    def _idle_timeout(self) -> None:
        """No request came in read_s: close (or abort, if the peer has not even taken our last answer)."""
        if self.transport is None:
            return
        if self.transport.get_write_buffer_size():
            self.transport.abort()
        else:
            self.transport.close()

    # ── the exchange ──

    def _dispatch(self, header: FrameHeader, payload: bytes) -> None:
        door = self.door
        command = peek_command(payload)
        self.busy = True
        if door.remote_limits.take(self.remote) > 0:
            self._busy(header, command, "rate_limited", "too many exchanges from this address; retry later")
            return
        if door.token_failures.exhausted(header.device_id, self.source):
            # Not judged: a right guess must get the same answer as a wrong one.
            self._busy(header, command, "token_failures",
                       "too many wrong tokens for this ID from this address; retry later")
            return
        self._arm(self.deadline, self._exchange_timeout)
        task = self.loop.create_task(self._call_handler(header, payload, command))
        door.exchanges.add(task)
        task.add_done_callback(door.exchanges.discard)

    async def _call_handler(self, header: FrameHeader, payload: bytes, command: int | None) -> None:
        # This task's own context: the handler's log lines and the access line carry the id.
        REQUEST_ID.set(random_bytes(8).hex())
        try:
            answer = await self.door.handler.exchange(header, payload)
        except Exception:
            self.door.metrics.failures.inc(reason="handler_error")
            log.exception("OFD handler failed on id %d reqnum %d", header.device_id, header.reqnum)
            answer = result_answer(header, ResultCode.UNKNOWN_ERROR, "internal error; it has been logged",
                                   command=command)
        result = peek_result_code(answer[HEADER_SIZE:])
        # Counted whether or not the answer is delivered: closing before it must not save a guess.
        if result == ResultCode.INVALID_TOKEN:
            self.door.token_failures.failed(header.device_id, self.source)
        if self.transport is not None and self.busy:  # else the connection ended while we worked
            self._answered(header, command, answer, result)

    def _exchange_timeout(self) -> None:
        header = self.header
        assert header is not None
        self.door.metrics.failures.inc(reason="exchange_timeout")
        log.warning("OFD exchange of id %d reqnum %d took longer than %.1f s: connection closed, the "
                    "handler goes on", header.device_id, header.reqnum, self.door.exchange_s)
        self.busy = False
        self.abort()

    def _busy(self, header: FrameHeader, command: int | None, reason: str, text: str) -> None:
        """Answer 254 (retry later) without the handler, counted as refused for reason."""
        self.door.metrics.refused.inc(reason=reason)
        answer = result_answer(header, ResultCode.SERVICE_TEMPORARILY_UNAVAILABLE, text, command=command)
        self._answered(header, command, answer, ResultCode.SERVICE_TEMPORARILY_UNAVAILABLE)

    def _answered(self, header: FrameHeader, command: int | None, answer: bytes, result: int | None) -> None:
        """Write the answer, account for the exchange, and go on with the next request or wait for it."""
        assert self.transport is not None
        self.transport.write(answer)
        now = self.loop.time()
        command_name = _name(Command, command)
        result_name = _name(ResultCode, result)
        metrics = self.door.metrics
        metrics.frames.inc(command=command_name, result=result_name)
        metrics.answer_seconds.observe(now - self.started, command=command_name)
        if access_log.isEnabledFor(logging.INFO):
            access_log.info("ofd %s id=%d reqnum=%d %s -> %s in %.1f ms", self.remote, header.device_id,
                            header.reqnum, command_name, result_name, (now - self.started) * 1000)
        self.busy = False
        self.header = None
        self.started = 0.0
        self.reading = 0
        if self.buffer:
            # Not called directly: a peer pipelining many frames would otherwise nest one call per frame.
            self.transport.resume_reading()
            self.loop.call_soon(self._advance)
        elif self.eof:
            self.transport.close()
        else:
            self._arm(now + self.door.read_s, self._idle_timeout)

    # ── faults ──

    def _refuse(self, error: FrameError) -> None:
        """Count and log bytes that are not a usable frame; answer PROTOCOL_ERROR when their header was
        read (same ID and REQNUM), then linger briefly so that unread input does not turn the close into a
        reset that loses the answer. The connection ends either way."""
        self.door.metrics.protocol_errors.inc(reason=error.reason.value)
        who = f" from id {error.header.device_id}" if error.header is not None else ""
        log.info("OFD protocol error%s (%s): %s", who, self.remote, error)
        transport = self.transport
        if transport is None:
            return
        if error.header is None:  # nothing tells where an answer would go: not OFD, or not even a header
            transport.abort()
            return
        transport.write(result_answer(error.header, ResultCode.PROTOCOL_ERROR, error.detail, command=None))
        self.buffer.clear()
        if self.eof or not transport.can_write_eof():
            transport.close()  # sends what is buffered first (TLS: then close_notify)
            return
        transport.write_eof()
        self.lingering = 1
        self._arm(self.loop.time() + LINGER_S, self.abort)

    # ── the one timer ──

    def _arm(self, when: float, callback: Callable[[], object]) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.loop.call_at(when, callback)

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


def _name(kind: type[Command] | type[ResultCode], value: int | None) -> str:
    if value is None:
        return "none"
    try:
        return kind(value).name
    except ValueError:
        return str(value) if value < 1000 else "other"  # a label's values stay few

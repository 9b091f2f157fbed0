"""Uploads a register's queue to the gateway strictly in order, resending the same bytes until answered."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import Callable

import aiohttp

from firmware_sim.device import Register
from firmware_sim.journal import encode_batch
from firmware_sim.summary import AckLog, UploadStats
from gateway.wire import pb

CONTENT_TYPE = "application/x-protobuf"


class Uploader:
    """One register's upload loop: batches from the head of its queue, per-event acks settle them."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        gateway_url: str,
        register: Register,
        stats: UploadStats,
        *,
        rng: random.Random,
        batch_size: int = 200,
        timeout_s: float = 10.0,
        lost_ack_rate: float = 0.0,
        ack_log: AckLog | None = None,
        backoff_s: float = 0.1,
        max_backoff_s: float = 5.0,
    ) -> None:
        self.session = session
        self.url = gateway_url.rstrip("/") + "/v1/batches"
        self.register = register
        self.stats = stats
        self.rng = rng
        self.batch_size = batch_size
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.lost_ack_rate = lost_ack_rate
        self.ack_log = ack_log
        self.wake = asyncio.Event()
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._failures = 0
        self._last_body: bytes | None = None
        self.answered = False  # the gateway answered at least one request

    def _backoff(self) -> float:
        self._failures += 1
        delay: float = min(self._max_backoff_s, self._backoff_s * 2.0 ** (self._failures - 1))
        return delay * (0.5 + self.rng.random() / 2)  # jitter, so a fleet does not retry in lockstep

    async def upload_once(self) -> float | None:
        """Send one batch from the queue head; the delay before the next try, or None if nothing queued."""
        items = self.register.queue.peek(self.batch_size)
        if not items:
            return None
        body = encode_batch([raw for _, raw in items])
        if body == self._last_body:
            self.stats.resends += 1
        self._last_body = body
        self.stats.batches += 1
        try:
            async with self.session.post(
                self.url,
                data=body,
                timeout=self.timeout,
                # the balancer keeps a device on one node by this header (it cannot read protobuf)
                headers={"Content-Type": CONTENT_TYPE, "X-Device-Id": self.register.identity.device_id},
            ) as response:
                payload = await response.read()
                status = response.status
                retry_after = response.headers.get("Retry-After")
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.stats.request_errors["timeout" if isinstance(exc, TimeoutError) else "network"] += 1
            return self._backoff()
        self.stats.answered += 1
        if status == 200:
            return self._apply(items, payload)
        return self._request_error(status, payload, retry_after)

    def _request_error(self, status: int, payload: bytes, retry_after: str | None) -> float:
        try:
            code = str(json.loads(payload)["error"])
        except (ValueError, KeyError, TypeError):
            code = f"http_{status}"
        self.stats.request_errors[code] += 1
        if status == 413 and self.batch_size > 1:
            self.batch_size = max(1, self.batch_size // 2)  # too big for this gateway: split and go on
            return 0.0
        if retry_after is not None:
            try:
                return max(0.0, float(retry_after))
            except ValueError:
                pass
        # Anything else (a 4xx we did not expect) is kept and retried slowly: fiscal data is never dropped.
        return self._backoff()

    def _apply(self, items: list[tuple[int, bytes]], payload: bytes) -> float:
        try:
            acks = list(pb.IngestAck.FromString(payload).acks)
        except Exception:  # a garbled answer: resend the batch later
            self.stats.request_errors["malformed_ack"] += 1
            return self._backoff()
        if (
            self.lost_ack_rate
            and any(a.status == pb.ACCEPTED for a in acks)
            and (self.rng.random() < self.lost_ack_rate)
        ):
            # Fault injection: the answer "got lost", so the register resends what was accepted.
            self.stats.lost_acks += len(acks)
            for ack in acks:
                self.stats.count_ack(ack)
                if self.ack_log:
                    self.ack_log.write(ack, lost=True)
            return 0.0
        device_id = self.register.identity.device_id
        for (seq, _raw), ack in zip(items, acks, strict=False):
            if ack.seq != seq or ack.device_id != device_id:
                self.stats.request_errors["ack_mismatch"] += 1
                return self._backoff()
            self.stats.count_ack(ack)
            if self.ack_log:
                self.ack_log.write(ack)
            if ack.status in (pb.ACCEPTED, pb.DUPLICATE):
                self.register.settle(seq, ack.status, ack.fiscal_sign)
            elif ack.status == pb.REJECTED and not ack.retryable:
                self.stats.dropped += 1
                self.register.settle(seq, ack.status)
            else:
                return self._backoff()  # retryable: this and what follows go again later, in order
        self._failures = 0
        return 0.0

    async def run(self, is_online: Callable[[], bool], should_stop: Callable[[], bool]) -> None:
        """Upload whenever online and something is queued, until should_stop() says so."""
        while not should_stop():
            if not is_online():
                await asyncio.sleep(0.1)
                continue
            delay = await self.upload_once()
            if delay is None:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=0.2)
            elif delay:
                await asyncio.sleep(delay)

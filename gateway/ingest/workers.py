"""Worker processes for the gateway's stateless CPU work, so one gateway uses more than one core.

The gateway runs one Python process under one GIL. The pure, stateless per-envelope stages can run here
instead, in processes started with `spawn` (chDB must never be forked into a child: a fork after chDB is
loaded deadlocks): decoding checks, the signing preimage and chain hash, receipt arithmetic and security
findings, and GS1 parsing of marking codes (everything of an envelope that needs no state). The shipper's
row building has a process of its own, with the ClickHouse client (gateway/storage/process.py).

The parent keeps everything with state or order: device registry and signature checks, chain heads,
the code status index, the journal (append + fsync before any ack), the ack. A worker gets bytes and
returns small picklable values, so a worker dying loses nothing: the request in hand fails (a 5xx; the
register resends it) and the pool is started again.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TypeVar

from gateway.codes.parser import CodeResult
from gateway.ingest import decoding
from gateway.ingest.code_verdicts import parse_codes
from gateway.ingest.decoding import EnvelopeRejected
from gateway.ingest.receipt_validation import validate_event
from gateway.observability.process_name import INGEST_WORKER, set_process_name
from gateway.security.receipt_checks import security_findings
from gateway.settings import Limits
from gateway.wire import pb, signing

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Prepared:
    """What the stateless stages found about one envelope (picklable; built in a worker or in-process)."""

    error: str  # '' or an event-level error code (decoding): the envelope is refused
    detail: str
    preimage: bytes  # b'' when refused
    envelope_hash: bytes
    findings: bytes  # serialized pb.Event-independent findings list: see findings_of()
    codes: dict[str, CodeResult]


def _findings_blob(findings: list[pb.Finding]) -> bytes:
    # Findings cross the process boundary as one serialized message (cheaper than pickling each).
    return pb.JournalRecord(findings=findings).SerializeToString() if findings else b""


def findings_of(prepared: Prepared) -> list[pb.Finding]:
    """The content findings (receipt arithmetic, then security) of a prepared envelope."""
    if not prepared.findings:
        return []
    return list(pb.JournalRecord.FromString(prepared.findings).findings)


def prepare_envelope(envelope: pb.Envelope, limits: Limits, received_ms: int, with_codes: bool) -> Prepared:
    """The stateless stages of one envelope (pure: runs in any process)."""
    try:
        event = decoding.decode_envelope(envelope, limits)
    except EnvelopeRejected as rejection:
        return Prepared(rejection.error.code, rejection.detail, b"", b"", b"", {})
    preimage = signing.event_preimage(envelope.device_id, envelope.seq, envelope.prev_hash, envelope.event)
    findings = validate_event(event, received_ms)
    findings.extend(security_findings(event))
    codes = parse_codes(event) if with_codes else {}
    return Prepared("", "", preimage, signing.envelope_hash(preimage), _findings_blob(findings), codes)


def prepare_batch(body: bytes, limits: Limits, received_ms: int, with_codes: bool) -> list[Prepared]:
    """prepare_envelope for every envelope of an already-accepted IngestBatch body, in order."""
    batch = pb.IngestBatch.FromString(body)
    return [prepare_envelope(envelope, limits, received_ms, with_codes) for envelope in batch.envelopes]


def _exit_with_parent(parent_pid: int) -> None:
    """Worker initializer: leave when the gateway is gone (a SIGKILLed parent would otherwise orphan it)."""
    set_process_name(INGEST_WORKER)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class WorkerPool:
    """K spawned worker processes (K ≥ 1), started at service start, before any request."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool = self._start()

    def _start(self) -> Executor:
        return ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_exit_with_parent, initargs=(os.getpid(),),
        )

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """fn(*args) in a worker; a dead worker (BrokenProcessPool) restarts the pool and raises."""
        loop = asyncio.get_running_loop()
        pool = self._pool
        try:
            return await loop.run_in_executor(pool, fn, *args)
        except BrokenProcessPool:
            if pool is self._pool:
                log.error("a worker process died: starting the worker pool again")
                pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._start()
            raise

    def start_in_background(self) -> None:
        """Have the workers start now (their imports take a second), without waiting for them."""
        self._pool.submit(os.getpid)

    def close(self) -> None:
        """Stop the workers (waits for the running calls)."""
        self._pool.shutdown(wait=True, cancel_futures=True)

"""Baseline "naive": the straightforward pipeline, built from the real stage functions, in one process.

THIS IS A BASELINE FOR `tracegate bench`, NOT THE GATEWAY. It does, per request and on the event loop:
verify EVERY signature (no one-verify-per-chained-run), parse, check the chain, fiscal-sign, append the
journal records to one file with an fsync per request (no group commit), and every 10k records validate
the content and insert the rows into chDB synchronously (build_rows, in Python). It has no back-pressure,
recovery, duplicates or shipper checkpoint: it exists so the real gateway's throughput can be read as a
multiple of "the obvious way".
Run: python -m gateway.bench.naive --port P --data DIR --devices devices.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from gateway import errors
from gateway.devices import DeviceRegistry, new_device
from gateway.errors import EnvelopeRejected
from gateway.ingest import decoding
from gateway.ingest.fiscal_sign import FiscalSigner
from gateway.ingest.journal import frames
from gateway.ingest.receipt_validation import event_time_findings
from gateway.ingest.signatures import SignedEnvelope, check_device
from gateway.settings import Settings, load_settings
from gateway.storage.client import Storage
from gateway.storage.migrations import apply_migrations
from gateway.storage.rows import build_rows
from gateway.wire import pb, signing

PROTOBUF = "application/x-protobuf"
INSERT_EVERY = 10_000  # records per chDB insert round, the "10k-row batches"


class NaivePipeline:
    """Everything inline: the baseline the issue measured at about 2,500 receipts/s."""

    def __init__(self, settings: Settings, registry: DeviceRegistry) -> None:
        self.settings = settings
        self.registry = registry
        self.fiscal = FiscalSigner.load_or_create(settings.fiscal_key_file)
        self.heads: dict[str, tuple[int, bytes]] = {}  # device -> (seq, hash) of the last accepted
        settings.journal_dir.mkdir(parents=True, exist_ok=True)
        self.journal_fd = os.open(settings.journal_dir / "naive.log",
                                  os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.storage = Storage.open(settings)
        self.storage.run_sync(lambda c: apply_migrations(c, self.storage.database))
        self.pending: list[pb.JournalRecord] = []

    def ingest(self, body: bytes) -> pb.IngestAck:
        """Decide every envelope, fsync its record, insert when 10k are pending, answer."""
        received_ms = time.time_ns() // 1_000_000
        batch = decoding.decode_batch(body, self.settings.limits)
        ack = pb.IngestAck(received_ms=received_ms, gateway_id="naive")
        records: list[pb.JournalRecord] = []
        for envelope in batch.envelopes:
            record = pb.JournalRecord(envelope=envelope, received_ms=received_ms, gateway_id="naive")
            event_ack = ack.acks.add(device_id=envelope.device_id, seq=envelope.seq)
            try:
                self._decide(envelope, record, received_ms)
                event_ack.status, event_ack.fiscal_sign = pb.ACCEPTED, record.fiscal_sign
            except EnvelopeRejected as rejection:
                event_ack.status, event_ack.error_code = pb.REJECTED, rejection.error.code
                record.error_code, record.detail = rejection.error.code, rejection.detail
            records.append(record)
        os.write(self.journal_fd, frames([r.SerializeToString() for r in records]))
        os.fsync(self.journal_fd)  # one fsync per request: no group commit
        self.pending.extend(records)
        if len(self.pending) >= INSERT_EVERY:
            self._insert()
        return ack

    def _decide(self, envelope: pb.Envelope, record: pb.JournalRecord, received_ms: int) -> None:
        event, _, content = decoding.decode_envelope_parts(envelope, self.settings.limits)
        signed = SignedEnvelope.of(envelope)
        device = check_device(self.registry, envelope)
        if not signing.verify_signature(device.public_key(), signed.preimage, envelope.signature):
            raise EnvelopeRejected(errors.BAD_SIGNATURE, "bad signature")
        seq, head = self.heads.get(envelope.device_id, (0, signing.genesis_hash(envelope.device_id)))
        if envelope.seq != seq + 1 or envelope.prev_hash != head:
            raise EnvelopeRejected(errors.SEQ_GAP, f"expected seq {seq + 1}")
        record.findings.extend(content)
        time_ms = 0 if event is None else event.time_ms
        if event is not None:
            record.findings.extend(event_time_findings(event, received_ms, self.settings.limits))
        record.fiscal_sign = self.fiscal.sign(envelope.device_id, envelope.seq, signed.envelope_hash, time_ms)
        record.accepted, record.envelope_hash = True, signed.envelope_hash
        record.seller_tin, record.store_id = device.seller_tin, device.store_id
        self.heads[envelope.device_id] = (envelope.seq, signed.envelope_hash)

    def _insert(self) -> None:
        tables = build_rows(self.pending)
        database = self.storage.database

        def insert_all(client: Any) -> None:
            for table, rows in tables.items():
                client.insert(table, rows.data(), column_names=rows.column_names(), database=database,
                              column_oriented=True)

        self.storage.run_sync(insert_all)
        self.pending = []


def main() -> None:
    """Serve on 127.0.0.1:--port until killed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--devices", type=Path, required=True, help="JSON list of device registrations")
    args = parser.parse_args()
    registry = DeviceRegistry([new_device(**d) for d in json.loads(args.devices.read_text())])
    pipeline = NaivePipeline(load_settings({"data_dir": args.data}), registry)

    async def post_batch(request: web.Request) -> web.Response:
        ack = pipeline.ingest(await request.read())
        return web.Response(body=ack.SerializeToString(), content_type=PROTOBUF)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/batches", post_batch)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()

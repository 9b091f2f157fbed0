"""The real GatewayService in the test process, on the session's chDB: started and stopped as `serve` does."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator, Sequence

from gateway.devices import Device
from gateway.service import GatewayService
from gateway.settings import Settings
from gateway.storage.client import Storage
from gateway.storage.device_store import save_device
from gateway.storage.migrations import apply_migrations
from gateway.wire import pb


def register_devices(settings: Settings, devices: Sequence[Device]) -> None:
    """Store devices as `tracegate devices add` does with no gateway running (the service loads them)."""
    storage = Storage.open(settings)
    try:
        storage.run_sync(lambda c: apply_migrations(c, storage.database))
        for device in devices:
            storage.run_sync(lambda c, d=device: save_device(c, storage.database, d))  # type: ignore[misc]
    finally:
        storage.close()


@contextlib.asynccontextmanager
async def running_service(settings: Settings) -> AsyncIterator[GatewayService]:
    """GatewayService.start(settings) … stop(); the heap freeze and gc thresholds it sets are undone after."""
    threshold = gc.get_threshold()
    service = await GatewayService.start(settings)
    try:
        yield service
    finally:
        await service.stop()
        gc.unfreeze()
        gc.set_threshold(*threshold)


async def send(service: GatewayService, *envelopes: pb.Envelope) -> list[pb.EventAck]:
    """One batch through the service's pipeline, as POST /v1/batches hands it over."""
    body = pb.IngestBatch(envelopes=envelopes).SerializeToString()
    return list((await service.pipeline.ingest(service.pipeline.decode_batch(body))).acks)


def statuses(acks: Sequence[pb.EventAck]) -> list[str]:
    """ACCEPTED / DUPLICATE, or the rejection's error code, per ack."""
    return [a.error_code or pb.AckStatus.Name(a.status) for a in acks]

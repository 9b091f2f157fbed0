"""A running gateway (real pipeline, journal, shipper, chDB) with one OFD register registered."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.ofd import registration
from gateway.service import GatewayService
from gateway.settings import Settings
from gateway.storage.device_store import save_device
from tests.ofd.registers import Register
from tests.storage.journal_records import storage_settings

SELLER = "123456789012"
KGD_NUMBER = "010101012345"


def ofd_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings of a test gateway on the session chDB (a database of its own), storage in-process."""
    values: dict[str, Any] = {"gateway_id": "gw-ofd", "storage_process": 0, "shipper_interval_s": 0.05,
                              "ofd_check_url": "https://check.example.kz"}
    return storage_settings(data_dir, **(values | overrides))


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[GatewayService]:
    """GatewayService.start/stop, undoing what start does to the collector for the rest of the tests."""
    threshold = gc.get_threshold()
    service = await GatewayService.start(settings)
    try:
        yield service
    finally:
        await service.stop()
        gc.unfreeze()
        gc.set_threshold(*threshold)


async def register_ofd(service: GatewayService, device_id: str = "KKM-200001", ofd_id: int = 200001,
                       token: int = 3_000_000_001, kgd_number: str = KGD_NUMBER) -> None:
    """`tracegate devices add --protocol ofd`, as the admin route does it."""
    reg = registration.OfdRegistration(device_id, SELLER, "almaty-01", ofd_id, kgd_number, token)
    to_save, _, _ = registration.register(service.registry, reg, service.ofd_keys)
    assert to_save is not None
    await service.storage.run(lambda c: save_device(c, service.storage.database, to_save))
    service.registry.put(to_save)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return ofd_settings(tmp_path / "data")


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[GatewayService]:
    async with running(settings) as started:
        await register_ofd(started)
        yield started


@pytest.fixture
def register(service: GatewayService) -> Register:
    return Register(service.ofd_handler)

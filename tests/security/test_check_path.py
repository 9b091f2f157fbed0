"""The pre-sale check's answer does not wait for the disk; the check is still recorded, and answered once."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.devices import new_device
from gateway.http.app import create_app
from gateway.http.keys import SERVICE
from gateway.wire import pb, signing
from tests.running_service import register_devices
from tests.storage.journal_records import storage_settings

PROTOBUF = "application/x-protobuf"
SELLER = "123456789012"


def _check(device_id: str, key: Any, key_id: str, nonce: bytes) -> bytes:
    body = pb.CodeCheckBody(codes=["0104600439931256215Ljs5a\x1d93abcd"], time_ms=int(time.time() * 1000),
                            nonce=nonce).SerializeToString()
    signature = signing.sign(key, signing.code_check_preimage(device_id, body))
    return pb.CodeCheckRequest(device_id=device_id, body=body, signature=signature,
                               key_id=key_id).SerializeToString()


@pytest.mark.clickhouse
async def test_a_check_is_answered_while_the_disk_stalls_and_recorded_once_it_writes(
    tmp_path: Path, aiohttp_client: Any
) -> None:
    key = signing.new_private_key()
    device = new_device("KKM-CHECK-1", SELLER, "almaty-01", signing.public_key_pem(key.public_key()))
    settings = storage_settings(tmp_path / "data", storage_process=0)
    register_devices(settings, [device])
    threshold = gc.get_threshold()
    client = await aiohttp_client(create_app(settings))
    try:
        journal = client.app[SERVICE].journal
        disk = threading.Event()  # the journal's writes wait for it: a disk that stalls
        write = journal._write_durably

        def stalled_write(data: bytes, count: int) -> Any:
            disk.wait(30)
            return write(data, count)

        journal._write_durably = stalled_write
        nonce = os.urandom(12)
        request = _check(device.device_id, key, device.key_id, nonce)
        answer = await asyncio.wait_for(client.post("/v1/codes/check", data=request,
                                                    headers={"Content-Type": PROTOBUF}), 10)
        assert answer.status == 200, await answer.text()
        check = pb.CodeCheckResponse.FromString(await answer.read())
        assert [v.status for v in check.verdicts] == ["unknown"]
        # Answered, not yet on disk; the same signed check again is refused at once all the same.
        assert not any(pb.JournalRecord.FromString(raw).HasField("code_check") for raw in journal.replay())
        again = await client.post("/v1/codes/check", data=request, headers={"Content-Type": PROTOBUF})
        assert again.status == 409 and (await again.json())["error"] == "check_replayed"

        disk.set()
        for _ in range(200):
            logged = [pb.JournalRecord.FromString(raw).code_check for raw in journal.replay()]
            if any(c.check_id for c in logged):
                break
            await asyncio.sleep(0.02)
        assert [(c.check_id, c.nonce) for c in logged if c.check_id] == [(check.check_id, nonce)]
    finally:
        await client.close()
        gc.unfreeze()
        gc.set_threshold(*threshold)

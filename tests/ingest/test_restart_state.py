"""What a restarted gateway knows of each chain when the journal that said it was shipped and deleted."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from gateway.wire import pb
from tests.ingest.conftest import Register, receipt
from tests.running_service import register_devices, running_service, send, statuses
from tests.storage.journal_records import storage_settings


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@pytest.mark.clickhouse
async def test_a_gap_notice_is_kept_when_the_head_comes_back_from_storage(tmp_path: Path) -> None:
    """Seq 1, a signed notice at seq 2 that 3..4 are lost, then seq 5: also across a restart whose journal
    no longer holds the notice (its segment was shipped and deleted, so the head is read from ClickHouse)."""
    device, neighbour = Register("KKM-GAP"), Register("KKM-BUSY")
    settings = storage_settings(tmp_path / "gw", storage_process=0, journal_segment_bytes=4096)
    register_devices(settings, [device.device(), neighbour.device()])
    notice = pb.Event(time_ms=_now_ms(), gap_notice=pb.GapNotice(first_missing_seq=3, last_missing_seq=4))
    async with running_service(settings) as service:
        acks = await send(service, device.envelope(receipt(time_ms=_now_ms())), device.envelope(notice))
        assert statuses(acks) == ["ACCEPTED", "ACCEPTED"]
        for _ in range(20):  # another register's sales fill the segment, so the journal moves on
            await send(service, neighbour.envelope(receipt(time_ms=_now_ms())))
        for _ in range(600):  # the service's own shipper ships, then deletes the segments it covered
            left = [pb.JournalRecord.FromString(raw).envelope.device_id for raw in service.journal.replay()]
            if device.device_id not in left:
                break
            await asyncio.sleep(0.1)
        assert device.device_id not in left  # the notice lives in ClickHouse only
    async with running_service(settings) as service:
        acks = await send(service, device.envelope(receipt(time_ms=_now_ms()), seq=5))
        assert statuses(acks) == ["ACCEPTED"]
        assert service.chains.head(device.device_id).next_seq == 6


@pytest.mark.clickhouse
async def test_a_restart_answers_resends_from_its_journal_and_the_chain_goes_on(tmp_path: Path) -> None:
    """The real service, stopped while ClickHouse could not take the events: the restarted one replays its
    journal, answers each resend DUPLICATE with the fiscal sign of the first ack, accepts the next seq."""
    register = Register("KKM-REPLAY")
    fault = tmp_path / "fault"
    settings = storage_settings(tmp_path / "gw", storage_process=0, fault_injection_file=str(fault))
    register_devices(settings, [register.device()])
    envelopes = [register.envelope(receipt(time_ms=_now_ms())) for _ in range(4)]
    async with running_service(settings) as service:
        fault.write_text("storage_down")  # nothing ships: the journal alone holds the events
        first = await send(service, *envelopes)
        assert statuses(first) == ["ACCEPTED"] * 4
        assert service.journal.unshipped_bytes() > 0
        fault.unlink()
    async with running_service(settings) as service:
        again = await send(service, *envelopes, register.envelope(receipt(time_ms=_now_ms())))
        assert statuses(again) == ["DUPLICATE"] * 4 + ["ACCEPTED"]
        assert [a.fiscal_sign for a in again[:4]] == [a.fiscal_sign for a in first]

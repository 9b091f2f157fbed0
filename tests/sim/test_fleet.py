"""A fleet registers, sells, goes offline, loses acks, and still settles every event exactly once."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from firmware_sim.fleet import FleetConfig, bin_check_digit, fleet_identity, run_fleet
from tests.sim.fake_gateway import running_fake


def test_seller_tins_carry_a_valid_bin_check_digit() -> None:
    assert bin_check_digit("10000000000") == "1"  # 1*1 % 11
    assert bin_check_digit("12345678901") == "3"  # first pass gives 10, second pass 377 % 11 = 3
    tins = {fleet_identity("x", i).seller_tin for i in range(9)}
    assert len(tins) == 3 and all(len(t) == 12 and bin_check_digit(t[:11]) == t[11] for t in tins)


async def test_fleet_settles_every_event_once_through_offline_periods_and_lost_acks(tmp_path: Path) -> None:
    ack_log = tmp_path / "acks.jsonl"
    async with running_fake() as fake:
        config = FleetConfig(gateway_url=fake.url, devices=3, duration_s=1.5, rate=40, seed=5,
                             offline_fraction=0.5, lost_ack_rate=0.3, ack_log=ack_log, token="secret",
                             drain_s=10)
        summary = await run_fleet(config)
    report = summary.to_json()
    assert len(fake.devices) == 3
    assert report["events_queued"] == 0 and report["events_generated"] > 60
    assert len(fake.accepted_order) == report["events_generated"]
    assert report["by_status"]["DUPLICATE"] > 0 and report["lost_acks"] > 0
    assert report["by_status"]["ACCEPTED"] == report["events_generated"]  # lost ones included
    assert report["receipts"] > 40 and report["shifts_closed"] >= 3  # one per register at the end, or more
    assert max(len(b) for b in fake.bodies) > 3_000  # an offline backlog went up in one batch
    signs: dict[tuple[str, int], str] = {}
    for line in ack_log.read_text().splitlines():
        ack = json.loads(line)
        key = (ack["device_id"], ack["seq"])
        if ack["status"] == "ACCEPTED":
            assert key not in signs
            signs[key] = ack["fiscal_sign"]
        elif ack["status"] == "DUPLICATE":
            assert signs[key] == ack["fiscal_sign"]
    assert len(signs) == report["events_generated"]


async def run_cli(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli.main", "sim", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_tracegate_sim_registers_runs_and_prints_json(tmp_path: Path) -> None:
    (tmp_path / "admin.token").write_text("secret\n")
    async with running_fake() as fake:
        code, out, err = await run_cli("--gateway", fake.url, "--devices", "2", "--duration", "0.5",
                                       "--rate", "20", "--register", "--data", str(tmp_path), "--json")
    assert code == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert report["devices"] == 2 and len(fake.devices) == 2
    assert report["by_status"] == {"ACCEPTED": report["events_generated"]} and report["events_queued"] == 0
    assert {"by_error_code", "receipts", "duration_s", "acks_per_s"} <= set(report)


async def test_tracegate_sim_continues_a_chain_and_refuses_a_device_with_another_key(tmp_path: Path) -> None:
    state = tmp_path / "state"
    args = ("--devices", "1", "--duration", "0.3", "--rate", "10", "--register", "--token", "secret",
            "--state-dir", str(state), "--seed", "3", "--json")
    async with running_fake() as fake:
        code, out, err = await run_cli("--gateway", fake.url, *args)
        assert code == 0, err
        first = json.loads(out)["events_generated"]
        code, out, err = await run_cli("--gateway", fake.url, *args)  # same key: the chain goes on
        assert code == 0, err
        assert json.loads(out)["by_status"] == {"ACCEPTED": json.loads(out)["events_generated"]}
        assert fake.heads["sim3-0000"] == first + json.loads(out)["events_generated"]
        fake.devices["sim3-0000"] = "another key"
        code, out, err = await run_cli("--gateway", fake.url, *args)
    assert code == 1 and "409" in err and out == ""

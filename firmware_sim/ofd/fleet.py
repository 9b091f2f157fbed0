"""A fleet of simulated OFD registers working for S seconds against tracegate's OFD front door."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from firmware_sim.code_registry import CodeBook
from firmware_sim.device import SHIFT_FLOAT
from firmware_sim.fleet import RegistrationError, fleet_identity, offline_window, run_prefix
from firmware_sim.ofd.link import OfdLink, OfdStats
from firmware_sim.ofd.register import OfdIdentity, OfdRegister
from firmware_sim.ofd.tickets import Style
from firmware_sim.summary import AckLog
from gateway.wire import ofd_pb2

VERSIONS = ("203", "202", "mixed")


@dataclass(frozen=True)
class OfdFleetConfig:
    """How many registers, speaking which version, for how long, how busy, how unreliable the line."""

    address: tuple[str, int]  # the OFD front door
    gateway_url: str = ""  # the HTTP API, to register the fleet (with token)
    devices: int = 5
    duration_s: float = 30.0
    seed: int = 1
    rate: float = 2.0  # documents a second per register
    version: str = "203"  # 203, 202, or mixed (every fourth register speaks 2.0.2)
    offline_fraction: float = 0.0  # share of the run each register spends without a line, in one window
    lost_answer_rate: float = 0.0
    shift_tickets: int = 60  # a shift closes after about this many receipts
    drain_s: float = 15.0
    transaction_s: float = 7.0
    reconnect_s: float = 2.0  # registers retry every 60 s or more; the simulation has no minute to spare
    token: str | None = None  # admin token: register the fleet through the admin API first
    registry: Path | None = None  # sell marked goods from this registry file
    state_dir: Path | None = None
    id_prefix: str = ""
    ack_log: Path | None = None  # one JSON line per answer to a document (appended)


@dataclass
class OfdActivity:
    """What the registers did, counted as they did it."""

    sales: int = 0
    returns: int = 0
    placements: int = 0
    shifts_closed: int = 0
    x_reports: int = 0
    started_up: int = 0  # INFO answered OK at start-up
    registers: list[OfdRegister] = field(default_factory=list)


def ofd_identity(prefix: str, index: int, seed: int, version: str) -> OfdIdentity:
    """Register `index` of a fleet: seller and store as in the tracegate fleet, its own OFD ID, first
    token and KGD number (from the seed and prefix, so a rerun with a state dir is the same register)."""
    base = fleet_identity(prefix, index)
    rng = random.Random(f"{prefix}/{seed}/{index}")
    ofd_id = rng.randrange(100_000, 2**31)
    speaks = 202 if version == "202" or (version == "mixed" and index % 4 == 3) else 203
    return OfdIdentity(
        device_id=f"{prefix}-ofd-{index:04d}", ofd_id=ofd_id, first_token=rng.randrange(1, 2**32),
        kgd_number=f"{rng.randrange(10**11, 10**12)}", serial_number=f"SIM{ofd_id:010d}",
        seller_tin=base.seller_tin, store_id=base.store_id, latitude_e6=base.latitude_e6,
        longitude_e6=base.longitude_e6, version=speaks,
    )


def register_style(index: int, version: int) -> Style:
    """Register models differ: some put VAT on the receipt, some sellers pay no VAT."""
    return Style(version=version, taxes_on_receipt=index % 5 == 4, vat=index % 7 != 6)


async def register_ofd_fleet(session: aiohttp.ClientSession, gateway_url: str, token: str,
                             registers: list[OfdRegister]) -> None:
    """Register every register through POST /v1/admin/devices (protocol ofd); 409 is an error."""
    url = gateway_url.rstrip("/") + "/v1/admin/devices"
    headers = {"Authorization": f"Bearer {token}"}
    for register in registers:
        async with session.post(url, json=register.identity.registration(), headers=headers) as response:
            if response.status not in (200, 201):
                text = await response.text()
                raise RegistrationError(f"registering {register.identity.device_id} (OFD id "
                                        f"{register.identity.ofd_id}) failed: HTTP {response.status}: {text}")


async def _work(register: OfdRegister, link: OfdLink, config: OfdFleetConfig, rng: random.Random,
                deadline: float, activity: OfdActivity) -> None:
    """One register's working day: a float deposit opens the shift, sales and returns at a Poisson rate,
    cash taken to the safe, X reports, the shift closed by its Z report after about shift_tickets."""
    try:
        await _day(register, link, config, rng, deadline, activity)
    except RuntimeError:
        if register.blocked is None:
            raise
        # Blocked by an answer in the middle of a step (a refused withdrawal before the Z report …):
        # a blocked register makes nothing more; the summary says why.


async def _day(register: OfdRegister, link: OfdLink, config: OfdFleetConfig, rng: random.Random,
               deadline: float, activity: OfdActivity) -> None:
    def shift_length() -> int:
        return rng.randint(max(1, config.shift_tickets // 2), config.shift_tickets * 3 // 2 + 1)

    length = shift_length()
    while register.blocked is None:
        pause = rng.expovariate(config.rate) if config.rate > 0 else deadline - time.monotonic()
        await asyncio.sleep(max(0.0, pause))
        if time.monotonic() >= deadline:
            break
        if not register.counters.shift_open:
            await link.deliver(register.money_placement(ofd_pb2.MONEY_PLACEMENT_DEPOSIT, SHIFT_FLOAT))
            activity.placements += 1
            continue
        roll = rng.random()
        if register.shift_tickets >= length:
            await _collect_cash(register, link, rng, activity)
            await link.deliver(register.close_shift())
            activity.shifts_closed += 1
            length = shift_length()
        elif roll < 0.04 and register.can_return():
            await link.deliver(register.sell_return())
            activity.returns += 1
        elif roll < 0.06:
            await _collect_cash(register, link, rng, activity)
        elif roll < 0.07 and not register.offline and not register.pending:
            activity.x_reports += await link.request(register.x_report())
        else:
            await link.deliver(register.sell(buyer=rng.random() < 0.05))
            activity.sales += 1
    if register.blocked is None and register.counters.shift_open:
        await link.deliver(register.close_shift())
        activity.shifts_closed += 1


async def _collect_cash(register: OfdRegister, link: OfdLink, rng: random.Random,
                        activity: OfdActivity) -> None:
    """Take part of the drawer to the safe, in whole thousands of tenge, when there is enough."""
    amount = (register.counters.cash * rng.randint(30, 80) // 100) // 1000_00 * 1000_00
    if amount > 0:
        await link.deliver(register.money_placement(ofd_pb2.MONEY_PLACEMENT_WITHDRAWAL, amount))
        activity.placements += 1


async def run_ofd_fleet(config: OfdFleetConfig) -> dict[str, Any]:
    """Register (with a token), start up (INFO), work for duration_s, drain the queues; the summary."""
    if config.version not in VERSIONS:
        raise ValueError(f"version must be one of {', '.join(VERSIONS)}")
    prefix = run_prefix(config.id_prefix, config.state_dir, config.seed)
    stats = OfdStats()
    activity = OfdActivity()
    for index in range(config.devices):
        identity = ofd_identity(prefix, index, config.seed, config.version)
        register = OfdRegister(identity, rng=random.Random(config.seed * 1_000_003 + index),
                               style=register_style(index, identity.version), state_dir=config.state_dir)
        register.load()
        activity.registers.append(register)
    if config.registry is not None:
        book = CodeBook.load(config.registry, config.seed)
        for register in activity.registers:
            register.code_source = book.source_for(register.identity.seller_tin, register.identity.store_id)
    if config.token is not None:
        async with aiohttp.ClientSession() as session:
            await register_ofd_fleet(session, config.gateway_url, config.token, activity.registers)
    ack_log = AckLog.open(config.ack_log) if config.ack_log else None  # line-buffered: nothing to lose
    started = time.monotonic()
    deadline = started + config.duration_s
    drain_deadline = deadline + config.drain_s
    working = [True]
    links: list[asyncio.Task[None]] = []
    workers: list[asyncio.Task[None]] = []
    for index, register in enumerate(activity.registers):
        rng = random.Random(config.seed * 7_919 + index)
        link = OfdLink(register, config.address, stats, rng=rng, lost_answer_rate=config.lost_answer_rate,
                       transaction_s=config.transaction_s, reconnect_s=config.reconnect_s, ack_log=ack_log)
        window = offline_window(config.duration_s, config.offline_fraction, rng, started)

        def online(window: tuple[float, float] = window) -> bool:
            return not working[0] or not window[0] <= time.monotonic() < window[1]

        def stop(register: OfdRegister = register) -> bool:
            return not working[0] and (not register.pending or time.monotonic() >= drain_deadline)

        links.append(asyncio.create_task(link.run(online, stop)))
        workers.append(asyncio.create_task(_start_and_work(register, link, config, rng, deadline, activity)))
    await asyncio.gather(*workers)
    working[0] = False
    await asyncio.gather(*links)
    if ack_log is not None:
        ack_log.close()
    return _summary(activity, stats, time.monotonic() - started)


async def _start_and_work(register: OfdRegister, link: OfdLink, config: OfdFleetConfig,
                          rng: random.Random, deadline: float, activity: OfdActivity) -> None:
    # Registers are not all switched on in the same instant.
    await asyncio.sleep(rng.uniform(0, min(1.0, config.duration_s / 10)))
    activity.started_up += await link.start_up()
    await _work(register, link, config, rng, deadline, activity)


def _summary(activity: OfdActivity, stats: OfdStats, elapsed: float) -> dict[str, Any]:
    registers = activity.registers
    versions = sorted({r.identity.version for r in registers})
    return {
        "protocol": "ofd",
        "devices": len(registers),
        "versions": versions,
        "duration_s": round(elapsed, 1),
        "started_up": activity.started_up,
        "sales": activity.sales,
        "returns": activity.returns,
        "placements": activity.placements,
        "shifts_closed": activity.shifts_closed,
        "x_reports": activity.x_reports,
        "documents_made": sum(r.document_number for r in registers),
        "documents_queued": sum(len(r.pending) for r in registers),
        **stats.to_json(),
    }

"""Runs N simulated registers concurrently for S seconds against a gateway, with a seeded RNG."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from firmware_sim.code_checks import sell_checked
from firmware_sim.code_registry import CodeBook
from firmware_sim.device import SHIFT_FLOAT, DeviceIdentity, Register
from firmware_sim.summary import AckLog, FleetSummary, UploadStats
from firmware_sim.uploader import Uploader
from gateway.wire import pb

# (city, latitude e6, longitude e6) where the simulated stores stand.
_CITIES = (("ALA", 43_238_949, 76_889_709), ("AST", 51_169_392, 71_449_074), ("SHY", 42_341_685, 69_590_101))


def bin_check_digit(body: str) -> str:
    """Check digit of a Kazakh IIN/BIN (11 digits in, the 12th out), per the two-pass mod-11 rule."""
    digits = [int(c) for c in body]
    total = sum(d * w for d, w in zip(digits, range(1, 12), strict=True)) % 11
    if total == 10:
        total = sum(d * w for d, w in zip(digits, [*range(3, 12), 1, 2], strict=True)) % 11
    if total == 10:
        raise ValueError(f"{body} has no valid BIN check digit")
    return str(total)


def _seller_bins() -> list[str]:
    bins: list[str] = []
    candidate = 1
    while len(bins) < 3:
        # BIN layout: YYMM of registration, 4 = legal entity (resident), 0, then a serial.
        body = f"0807{4}{0}{candidate:05d}"
        candidate += 1
        try:
            bins.append(body + bin_check_digit(body))
        except ValueError:
            continue
    return bins


SELLER_TINS = _seller_bins()


def fleet_identity(prefix: str, index: int) -> DeviceIdentity:
    """The identity of device `index` of a fleet: sellers and stores are spread over three cities."""
    seller = index % len(SELLER_TINS)
    city, lat, lon = _CITIES[(index // len(SELLER_TINS)) % len(_CITIES)]
    store = f"{city}-{seller + 1}{(index // 9) % 10:02d}"
    return DeviceIdentity(f"{prefix}-{index:04d}", SELLER_TINS[seller], store, lat, lon)


@dataclass(frozen=True)
class FleetConfig:
    """How many registers, for how long, how busy, how unreliable the network."""

    gateway_url: str
    devices: int = 5
    duration_s: float = 30.0
    seed: int = 1
    rate: float = 2.0  # receipts a second per register
    offline_fraction: float = 0.0  # share of the run each register spends offline, in one window
    lost_ack_rate: float = 0.0  # share of answered batches whose answer "gets lost"
    state_dir: Path | None = None
    id_prefix: str = ""
    shift_receipts: int = 60  # a shift closes after about this many receipts
    drain_s: float = 15.0  # after the run, how long registers keep uploading their backlog
    batch_size: int = 200
    ack_log: Path | None = None
    token: str | None = None  # register the fleet through the admin API with this token first
    registry: Path | None = None  # sell marked goods from this registry file (firmware_sim.code_registry)
    check_share: float = 0.2  # with a registry: share of sales whose codes are checked first
    rotate_every: int = 0  # a register hands its chain to a new key after this many receipts (0: never)
    clock_skew_s: float = 0.0  # every register's clock runs this far ahead of real time (negative: behind)


def _skewed_clock(skew_s: float) -> Callable[[], int]:
    """A register clock off by skew_s from the wall clock (its events carry that time, signed)."""
    skew_ms = int(skew_s * 1000)
    return lambda: time.time_ns() // 1_000_000 + skew_ms


class RegistrationError(Exception):
    """A register could not be registered with the gateway."""


@dataclass
class _Activity:
    receipts: int = 0
    returns: int = 0
    shifts_closed: int = 0
    key_rotations: int = 0
    registers: list[Register] = field(default_factory=list)


def default_prefix(config: FleetConfig) -> str:
    """Device id prefix of a fleet (see run_prefix)."""
    return run_prefix(config.id_prefix, config.state_dir, config.seed)


def run_prefix(id_prefix: str, state_dir: Path | None, seed: int) -> str:
    """Device id prefix: the one asked for; stable with a state dir (so the chain continues); unique per
    run otherwise."""
    if id_prefix:
        return id_prefix
    if state_dir is not None:
        return f"sim{seed}"
    return f"sim{seed}-{os.urandom(3).hex()}"


async def register_fleet(
    session: aiohttp.ClientSession, gateway_url: str, token: str, registers: list[Register]
) -> None:
    """Register every register's key through POST /v1/admin/devices; 409 (another key) is an error."""
    url = gateway_url.rstrip("/") + "/v1/admin/devices"
    headers = {"Authorization": f"Bearer {token}"}
    for register in registers:
        async with session.post(url, json=register.registration(), headers=headers) as response:
            text = await response.text()
            if response.status in (200, 201):
                continue
            if response.status == 409:
                raise RegistrationError(
                    f"{register.identity.device_id} is registered with another key (409): {text}"
                )
            raise RegistrationError(
                f"registering {register.identity.device_id} failed: HTTP {response.status}: {text}"
            )


async def _drive(register: Register, uploader: Uploader, config: FleetConfig, rng: random.Random,
                 deadline: float, activity: _Activity) -> None:
    """One register's working day: shifts, sales, returns, cash movements, at a Poisson rate."""

    def step(raw: bytes) -> None:
        uploader.wake.set()

    if not register.shift_open:
        step(register.open_shift())
        step(register.cash_movement(pb.CashMovement.DEPOSIT, SHIFT_FLOAT))
    shift_length = rng.randint(config.shift_receipts // 2, config.shift_receipts * 3 // 2 + 1)
    sold_since_rotation = 0
    while True:
        pause = rng.expovariate(config.rate) if config.rate > 0 else deadline - time.monotonic()
        await asyncio.sleep(max(0.0, pause))
        if time.monotonic() >= deadline:
            break
        roll = rng.random()
        if register.shift.receipt_count >= shift_length:
            _collect_cash(register, rng, step)
            step(register.close_shift())
            activity.shifts_closed += 1
            step(register.open_shift())
            step(register.cash_movement(pb.CashMovement.DEPOSIT, SHIFT_FLOAT))
        elif roll < 0.04 and register.can_return():
            step(register.sell_return())
            activity.returns += 1
            activity.receipts += 1
        elif roll < 0.06:
            _collect_cash(register, rng, step)
        else:
            buyer = register.random_buyer() if rng.random() < 0.05 else None
            if config.registry is not None and rng.random() < config.check_share:
                step(await sell_checked(uploader.session, config.gateway_url, register, rng, buyer))
            else:
                step(register.sell(buyer=buyer))
            activity.receipts += 1
            sold_since_rotation += 1
        if config.rotate_every and sold_since_rotation >= config.rotate_every:
            step(register.rotate_key())
            activity.key_rotations += 1
            sold_since_rotation = 0
    step(register.close_shift())
    activity.shifts_closed += 1


def _collect_cash(register: Register, rng: random.Random, step: Callable[[bytes], None]) -> None:
    """Take part of the drawer to the safe, in whole thousands of tenge, when there is enough."""
    drawer = register.shift.cash_in_drawer
    amount = (drawer * rng.randint(30, 80) // 100) // 1000_00 * 1000_00
    if amount > 0:
        step(register.cash_movement(pb.CashMovement.WITHDRAWAL, amount))


def offline_window(
    duration_s: float, fraction: float, rng: random.Random, start: float
) -> tuple[float, float]:
    """The one window (monotonic start, end) of a run of duration_s in which a register has no network."""
    length = duration_s * max(0.0, min(1.0, fraction))
    if length <= 0:
        return (0.0, 0.0)
    begin = start + rng.uniform(0, duration_s - length)
    return (begin, begin + length)


async def run_fleet(config: FleetConfig) -> FleetSummary:
    """Run the fleet: register (if a token is given), sell for duration_s, drain the backlog, summarise."""
    prefix = default_prefix(config)
    stats = UploadStats()
    activity = _Activity()
    ack_log = AckLog.open(config.ack_log) if config.ack_log else None
    connector = aiohttp.TCPConnector(limit=min(100, max(1, config.devices)))
    started = time.monotonic()
    try:
        async with aiohttp.ClientSession(connector=connector) as session:
            for index in range(config.devices):
                rng = random.Random(config.seed * 1_000_003 + index)
                activity.registers.append(Register.open(
                    fleet_identity(prefix, index), rng=rng, state_dir=config.state_dir,
                    clock=_skewed_clock(config.clock_skew_s),
                ))
            start_seqs = [r.seq for r in activity.registers]
            if config.registry is not None:
                book = CodeBook.load(config.registry, config.seed)
                for register in activity.registers:
                    register.code_source = book.source_for(register.identity.seller_tin,
                                                           register.identity.store_id)
            if config.token is not None:
                await register_fleet(session, config.gateway_url, config.token, activity.registers)
            started = time.monotonic()
            deadline = started + config.duration_s
            generating = [True]
            drain_deadline = deadline + config.drain_s
            tasks = []
            for index, register in enumerate(activity.registers):
                rng = random.Random(config.seed * 7_919 + index)
                uploader = Uploader(session, config.gateway_url, register, stats, rng=rng,
                                    batch_size=config.batch_size, lost_ack_rate=config.lost_ack_rate,
                                    ack_log=ack_log)
                window = offline_window(config.duration_s, config.offline_fraction, rng, started)

                def online(window: tuple[float, float] = window) -> bool:
                    return not generating[0] or not window[0] <= time.monotonic() < window[1]

                def stop(register: Register = register) -> bool:
                    if generating[0]:
                        return False
                    return not register.queue or time.monotonic() >= drain_deadline

                tasks.append(asyncio.create_task(uploader.run(online, stop)))
                tasks.append(asyncio.create_task(
                    _drive(register, uploader, config, rng, deadline, activity)
                ))
            drivers = tasks[1::2]
            await asyncio.gather(*drivers)
            generating[0] = False
            await asyncio.gather(*tasks[0::2])
    finally:
        if ack_log:
            ack_log.close()
    elapsed = time.monotonic() - started
    generated = sum(r.seq - s for r, s in zip(activity.registers, start_seqs, strict=True))
    return FleetSummary(
        devices=config.devices,
        duration_s=elapsed,
        events_generated=generated,
        events_queued=sum(len(r.queue) for r in activity.registers),
        receipts=activity.receipts,
        returns=activity.returns,
        shifts_closed=activity.shifts_closed,
        stats=stats,
        key_rotations=activity.key_rotations,
    )

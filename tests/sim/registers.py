"""Registers for the firmware_sim tests: seeded content, a stepping clock, fresh keys, a working day."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from firmware_sim.device import DeviceIdentity, Register
from firmware_sim.fleet import fleet_identity

MakeRegister = Callable[..., Register]


def stepping_clock(start_ms: int = 1_780_000_000_000, step_ms: int = 1_500) -> Callable[[], int]:
    """A clock that moves step_ms on every reading."""
    now = [start_ms]

    def clock() -> int:
        now[0] += step_ms
        return now[0]

    return clock


def register_factory() -> MakeRegister:
    """Build a register: make_register(index=0, seed=7, state_dir=None)."""

    def build(index: int = 0, seed: int = 7, state_dir: Path | None = None) -> Register:
        identity: DeviceIdentity = fleet_identity("test", index)
        return Register.open(identity, rng=random.Random(seed), state_dir=state_dir, clock=stepping_clock())

    return build


def working_day(register: Register, receipts: int = 40, shifts: int = 2) -> None:
    """Shifts full of sales, some returns, cash movements and Z-reports, as the fleet drives them."""
    rng = register.rng
    for _ in range(shifts):
        register.open_shift()
        register.cash_movement(1, 20_000_00)
        for number in range(receipts):
            if number % 9 == 8 and register.can_return():
                register.sell_return()
            elif number % 13 == 12 and register.shift.cash_in_drawer > 1000_00:
                register.cash_movement(2, 1000_00)
            else:
                register.sell(buyer=register.random_buyer() if rng.random() < 0.1 else None)
        register.close_shift()

"""Fixtures of the firmware_sim tests (not tests/firmware_sim: that package would shadow firmware_sim)."""

from __future__ import annotations

import pytest

from tests.sim.registers import MakeRegister, register_factory


@pytest.fixture
def make_register() -> MakeRegister:
    """Build a register: make_register(index=0, seed=7, state_dir=None)."""
    return register_factory()

"""The CI budget of `make fuzz`: hypothesis-driven mutations and a few thousand seeded cases, real gateway."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.wire import pb
from tests.fuzz.mutations import ChainKey, byte_level, code_check, marking_codes, resigned, structured
from tests.fuzz.oracle import FuzzLedger, check_answer
from tests.fuzz.run import FIXTURES, UNLIMITED, fuzz, fuzz_keys, register
from tests.reliability.gateway_process import PROTOBUF, GatewayProcess

pytestmark = [pytest.mark.clickhouse, pytest.mark.slow]

VALID = pb.IngestBatch.FromString((FIXTURES / "valid_batch.pb").read_bytes())
CODES = marking_codes(VALID)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayProcess, ChainKey]]:
    gateway = GatewayProcess(tmp_path_factory.mktemp("fuzz") / "data", env=dict(UNLIMITED))
    gateway.start()
    for device in json.loads((FIXTURES / "devices.json").read_text())["devices"]:
        register(gateway, device["device_id"], device["public_key_pem"])
    yield gateway, fuzz_keys(gateway, 1)[0]
    gateway.stop()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rng=st.randoms(use_true_random=False),
       kind=st.sampled_from(["structured", "bytes", "resigned", "codes"]))
def test_hostile_inputs_get_documented_answers(target: tuple[GatewayProcess, ChainKey], rng: random.Random,
                                               kind: str) -> None:
    gateway, key = target
    if kind == "structured":
        case = structured(VALID, rng)
    elif kind == "bytes":
        case = byte_level(VALID.SerializeToString(), rng)
    elif kind == "resigned":
        case = resigned(VALID, key, rng)
    else:
        case = code_check(CODES, key, rng)
    status, headers, answer = gateway.request("POST", case.path, case.body, PROTOBUF, timeout=30)
    findings, acks = check_answer(case.body, status, answer, headers.get("Retry-After"), FuzzLedger(),
                                  case.path)
    assert findings == [], case.operator
    if case.chained is not None and acks and acks[0].status == pb.ACCEPTED:
        key.advance(case.chained)


def test_seeded_budget_leaves_exactly_the_accepted_events_in_storage(tmp_path: Path) -> None:
    gateway = GatewayProcess(tmp_path / "data", env=dict(UNLIMITED))
    gateway.start()
    try:
        report = asyncio.run(fuzz(gateway, cases=3000, seed=20, workers=4))
    finally:
        gateway.stop()
    assert report.findings == [], report.text()
    assert report.ledger.accepted, "no mutated input was ever accepted: the fuzzer would test nothing deep"
    assert len(report.operators) > 40

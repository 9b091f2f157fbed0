"""Scenario: two registers of two stores sell one marking code at the same moment while the journal refuses
one of the two requests; what stays must be the sale that was kept, judged as the first."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from gateway.codes.parser import validate_code
from gateway.codes.status_index import StatusIndex
from gateway.devices import Device, DeviceRegistry
from gateway.errors import GatewayError
from gateway.ingest.chain import ChainState
from gateway.ingest.code_verdicts import CodeVerdicts
from gateway.ingest.fiscal_sign import FiscalSigner
from gateway.ingest.journal import Journal
from gateway.ingest.pipeline import IngestPipeline
from gateway.settings import Settings
from gateway.wire import pb
from tests.ingest.conftest import FISCAL_KEY, NOW_MS, Register
from tests.ingest.test_code_verdicts import coded_event, fresh_code
from tests.reliability.ledger import Verdict
from tests.reliability.sim_run import ScenarioResult

BIG_BATCH = 300  # envelopes of the request the journal refuses (over its budget)
BUDGET = 120_000  # bytes: the big request never fits, the small one always does (shipped every round)


def _device(register: Register, store: str) -> Device:
    return Device(
        register.device_id, "990340000123", store, register.public_key_pem, register.key_id, "active"
    )


async def _round(pipeline: IngestPipeline, journal: Journal, registry: DeviceRegistry, index: StatusIndex,
                 number: int, rng: random.Random) -> tuple[bool, str | None]:
    """One race; (the big request was refused, a broken promise or None)."""
    big, small = Register(f"RACE-A-{number}"), Register(f"RACE-B-{number}")
    registry.put(_device(big, "store-a"))
    registry.put(_device(small, "store-b"))
    code = fresh_code(10_000 + number)
    cis = validate_code(code).cis
    index.put_registry(cis, "introduced", "", 0)
    before = journal.end_position
    batch = [big.envelope(coded_event([code]))] + [big.envelope(coded_event([fresh_code(-1 - i)]))
                                                   for i in range(BIG_BATCH - 1)]

    async def send(envelopes: list[pb.Envelope], delay_s: float) -> pb.IngestAck | GatewayError:
        await asyncio.sleep(delay_s)
        body = pb.IngestBatch(envelopes=envelopes).SerializeToString()
        try:
            return await pipeline.ingest(pipeline.decode_batch(body))
        except GatewayError as exc:
            return exc

    refused, kept = await asyncio.gather(
        send(batch, 0.0), send([small.envelope(coded_event([code]))], rng.uniform(0.0, 0.02)))
    if not isinstance(refused, GatewayError) or isinstance(kept, GatewayError):
        return False, None  # this round's timing let both through or neither: nothing to check
    state = index.state(cis)
    if state is None or not state.sold or state.last_store_id != "store-b":
        return True, f"round {number}: the kept sale is not the code's status ({state})"
    [record] = [pb.JournalRecord.FromString(raw) for raw in journal.read(before, max_records=10)[0]]
    if [v.verdict for v in record.code_verdicts] != ["valid"]:  # judged against a sale never kept
        return True, f"round {number}: the kept sale was judged {[v.verdict for v in record.code_verdicts]}"
    return True, None


async def _race(workdir: Path, rounds: int) -> tuple[int, int, list[str]]:
    index = StatusIndex()
    registry = DeviceRegistry([])
    journal = Journal.open(workdir / "journal", segment_bytes=1 << 20, budget_bytes=BUDGET)
    pipeline = IngestPipeline(
        Settings(gateway_id="race"), registry, ChainState(), FiscalSigner(FISCAL_KEY), journal,
        _nothing_stored, clock=lambda: NOW_MS, code_verdicts=CodeVerdicts(index),
    )
    rng = random.Random(4)
    checked, problems = 0, []
    try:
        for number in range(rounds):
            refused, problem = await _round(pipeline, journal, registry, index, number, rng)
            checked += refused
            if problem:
                problems.append(problem)
            journal.mark_shipped(journal.end_position)  # room for the next round's small request
    finally:
        await journal.close()
    return rounds, checked, problems


async def _nothing_stored(device_id: str, seqs: list[int]) -> dict[int, object]:
    return {}


def run_code_race(workdir: Path, *, short: bool) -> ScenarioResult:
    """200 (short) or 2,000 races, each with fresh codes, in the real pipeline over the real journal."""
    workdir.mkdir(parents=True, exist_ok=True)
    rounds, checked, problems = asyncio.run(_race(workdir, 200 if short else 2000))
    verdict = Verdict(checked, checked, 0, 0, problems)
    notes = [f"{rounds} races, {checked} with the big request refused while the small one was kept; "
             "the kept sale was every time the code's status and judged the first (valid)"]
    return ScenarioResult("one code, two stores, one refusal", verdict, 0.0, notes)

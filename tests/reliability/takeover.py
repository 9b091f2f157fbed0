"""Scenario: registers moved between two gateway nodes while acks are lost, the old node's acks unshipped.

Two real pipelines with their own journals and shippers over one ClickHouse (chDB, in this process),
wired by the service's own chain_storage. Run twice: with chain_heads in Keeper (a stand-in: Keeper cannot
run here) no event may be stored twice; without it (a single server, or Keeper away) some are, and the
double-acceptance sweep must find every one of them.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from gateway.cluster.acceptance_sweep import AcceptanceSweep
from gateway.errors import GatewayError
from gateway.storage.client import Storage
from gateway.storage.migrations import apply_migrations
from gateway.wire import pb
from tests.ingest.conftest import NOW_MS, Register, receipt
from tests.ingest.nodes import KeeperHeads, Node
from tests.reliability.ledger import Verdict
from tests.reliability.sim_run import ScenarioResult
from tests.storage.journal_records import storage_settings


async def _send(node: Node, envelopes: list[pb.Envelope]) -> list[pb.EventAck] | GatewayError:
    try:
        return await node.send(*envelopes)
    except GatewayError as exc:
        return exc


async def _run(workdir: Path, storage: Storage, with_keeper: bool, moves: int) -> tuple[int, int, list[str]]:
    """(events stored twice, found by the sweep, problems)."""
    rng = random.Random(5)
    registers = [Register(f"MOVE-{'K' if with_keeper else 'N'}{i}") for i in range(3)]
    keeper = KeeperHeads() if with_keeper else None
    nodes = []
    for i in (0, 1):
        name = f"{'k' if with_keeper else 'n'}-{i}"
        settings = storage_settings(workdir / name, gateway_id=name, database=storage.database,
                                    shipper_batch_rows=50)
        nodes.append(Node(settings, storage, registers, takeover=True, keeper=keeper))
    problems: list[str] = []
    for _ in range(moves):
        for register in registers:
            batch = [register.envelope(receipt(), advance=False)]
            node = rng.choice(nodes)
            for _attempt in range(20):
                answer = await _send(node, batch)
                if isinstance(answer, GatewayError) or any(a.retryable for a in answer):
                    await asyncio.gather(*(n.shipper.ship_all() for n in nodes))  # let storage catch up
                    continue
                if rng.random() < 0.3:  # the ack is lost: the register resends, the balancer moved it
                    node = nodes[1] if node is nodes[0] else nodes[0]
                    continue
                if any(a.status == pb.REJECTED for a in answer):
                    problems.append(f"{register.device_id}: {[a.error_code for a in answer]}")
                break
            register.envelope(receipt())  # the register moves on: the same bytes, now acknowledged
        if rng.random() < 0.3:
            await rng.choice(nodes).shipper.ship_all()
    for node in nodes:
        await node.shipper.ship_all()
        await node.journal.close()
    prefix = "MOVE-K" if with_keeper else "MOVE-N"
    doubled = await storage.run(lambda c: c.query(
        f"SELECT count() FROM (SELECT device_id, seq FROM {storage.database}.events "
        f"WHERE startsWith(device_id, '{prefix}') GROUP BY device_id, seq HAVING count() > 1)").result_rows)
    sweep = AcceptanceSweep(clock=lambda: NOW_MS + 1_000)  # the nodes' clock (tests.ingest.nodes)
    found = [key for key in await sweep.sweep_once(storage) if key[0].startswith(prefix)]
    return int(doubled[0][0]), len(found), problems


def run_takeover(workdir: Path, *, short: bool) -> ScenarioResult:
    """30 (short) or 300 rounds of 3 registers moved between 2 nodes, with and without Keeper heads."""
    workdir.mkdir(parents=True, exist_ok=True)
    settings = storage_settings(workdir / "storage")
    storage = Storage.open(settings)
    try:
        storage.run_sync(lambda c: apply_migrations(c, storage.database))
        moves = 30 if short else 300
        doubled, found, problems = asyncio.run(_run(workdir, storage, True, moves))
        control_doubled, control_found, _ = asyncio.run(_run(workdir, storage, False, moves))
        events = storage.run_sync(lambda c: c.query(
            f"SELECT count(), uniqExact(device_id, seq) FROM {storage.database}.events "
            "WHERE startsWith(device_id, 'MOVE-K')").result_rows)[0]
    finally:
        storage.close()
    if doubled:
        problems.append(f"{doubled} events stored twice with chain heads in Keeper")
    if found != doubled or control_found != control_doubled:
        problems.append(f"the sweep found {found} / {control_found}, stored twice {doubled} / "
                        f"{control_doubled}")
    if not control_doubled:
        problems.append("the run without Keeper heads doubled nothing: the moves did not exercise takeover")
    verdict = Verdict(int(events[1]), int(events[0]), 0, doubled, problems)
    notes = [f"{moves} rounds x 3 registers over 2 nodes, 30 % of acks lost and the device moved; with "
             f"Keeper heads: {doubled} stored twice; without: {control_doubled} stored twice, the sweep "
             f"flagged {control_found}"]
    return ScenarioResult("device moved between nodes", verdict, 0.0, notes)

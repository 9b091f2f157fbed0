"""Two gateway nodes over one storage: each follows the other's code moves; the sweep flags the rest."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from firmware_sim.catalog import default_catalog, marking_code
from gateway.cluster import code_follow
from gateway.cluster.code_follow import (
    OVERLAP_MS,
    SETTLE_MS,
    CodeFollower,
    DoubleSaleSweep,
    FollowStats,
    follow_forever,
)
from gateway.codes.parser import validate_code
from gateway.codes.registry_file import RegistryRow
from gateway.devices import Device, DeviceRegistry
from gateway.http.keys import SERVICE
from gateway.http.metrics import CODE_FOLLOW_METRICS, METRICS, get_metrics
from gateway.ingest.chain import ChainState
from gateway.ingest.code_verdicts import CodeVerdicts
from gateway.ingest.fiscal_sign import FiscalSigner
from gateway.ingest.journal import Journal
from gateway.ingest.pipeline import IngestPipeline
from gateway.observability.code_follow_metrics import CodeFollowMetrics
from gateway.observability.gateway_metrics import GatewayMetrics
from gateway.service import GatewayService
from gateway.settings import Settings, load_settings
from gateway.shipping.shipper import Shipper
from gateway.storage.chain_heads import StoredEnvelope, load_envelopes
from gateway.storage.client import Storage
from gateway.storage.code_follow import latest_moves, sweep_double_sales
from gateway.storage.code_registry_store import insert_registry_rows, load_status_index
from gateway.storage.migrations import MigrationContext, all_migrations
from gateway.storage.table_engine import SINGLE_NODE
from gateway.wire import pb, signing
from tests.ingest.conftest import FISCAL_KEY, NOW_MS, Register
from tests.storage.journal_records import migrated_storage, storage_settings

SELLER = "990340000123"  # one chain of shops: node A serves its Almaty store, node B its Astana store
_SHOES = next(g for g in default_catalog() if g.marking_group == "shoes")


def _code(seed: int) -> str:
    return marking_code(_SHOES, random.Random(seed))


def _cis(code: str) -> str:
    found = validate_code(code).cis
    assert found
    return found


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _event(code: str, operation: int = pb.SELL) -> pb.Event:
    line = pb.ReceiptLine(name="Shoes", gtin=_SHOES.gtin, quantity=1000, price=1000, sum=1000,
                          taxes=[pb.Tax(tax_type=100, rate_bp=1200, sum=107)], marking_codes=[code])
    return pb.Event(time_ms=NOW_MS - 60_000, receipt=pb.Receipt(
        operation=operation, shift_number=1, document_number=1, shift_document_number=1, cashier="A",
        lines=[line], payments=[pb.Payment(type=pb.CARD, sum=1000)], total=1000,
        taxes=[pb.Tax(tax_type=100, rate_bp=1200, sum=107)],
    ))


class Node:
    """One gateway node: its register, pipeline with code verdicts, journal, shipper and follower."""

    def __init__(self, name: str, store_id: str, tmp_path: Path, storage: Storage, loaded: CodeVerdicts,
                 clock: list[int]) -> None:
        settings = storage_settings(tmp_path / name, gateway_id=name, database=storage.database)
        self.name, self.store_id, self.storage = name, store_id, storage
        self.register = Register(f"KKM-{name}")
        key_pem = signing.public_key_pem(self.register.key.public_key())
        device = Device(self.register.device_id, SELLER, store_id, key_pem, self.register.key_id, "active")
        self.journal = Journal.open(settings.journal_dir, segment_bytes=1 << 20, budget_bytes=1 << 26)

        async def lookup(device_id: str, seqs: list[int]) -> Mapping[int, StoredEnvelope]:
            return await storage.run(lambda c: load_envelopes(c, storage.database, device_id, seqs))

        self.verdicts = loaded
        self.pipeline = IngestPipeline(
            settings, DeviceRegistry([device]), ChainState(), FiscalSigner(FISCAL_KEY), self.journal, lookup,
            clock=lambda: clock[0], code_verdicts=loaded,
        )
        self.shipper = Shipper(self.journal, storage, settings)
        self.follower = CodeFollower(loaded.index, name, watermark_ms=_now_ms())

    async def sell(self, code: str, operation: int = pb.SELL) -> pb.JournalRecord:
        """One receipt with the code; it must be accepted; returns its journal record."""
        envelope = self.register.envelope(_event(code, operation))
        body = pb.IngestBatch(envelopes=[envelope]).SerializeToString()
        acks = (await self.pipeline.ingest(self.pipeline.decode_batch(body))).acks
        assert acks[0].status == pb.ACCEPTED, acks[0]
        *_, last = (pb.JournalRecord.FromString(raw) for raw in self.journal.replay())
        return last

    def may_sell(self, code: str) -> tuple[bool, str]:
        """The pre-sale check's answer at this node's store (POST /v1/codes/check decides with it)."""
        [answer] = self.verdicts.check([code], SELLER, self.store_id, NOW_MS)
        return answer.may_sell, answer.judgement.verdict


def _verdict_and_kinds(record: pb.JournalRecord) -> tuple[str, list[str]]:
    """The code's verdict and the code anomalies (a return's missing_parent left out)."""
    kinds = sorted(f.kind for f in record.findings if f.kind.startswith("code_"))
    return record.code_verdicts[0].verdict, kinds


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    async with migrated_storage(storage_settings(tmp_path)) as opened:
        yield opened


@pytest.fixture
async def nodes(tmp_path: Path, storage: Storage) -> AsyncIterator[tuple[Node, Node, list[int]]]:
    """Nodes gw-a and gw-b over one storage whose registry holds codes 1..12 (no owner, in circulation)."""
    rows = [RegistryRow(_cis(_code(seed)), _SHOES.gtin, "", "shoes", "introduced", None, _code(seed))
            for seed in range(1, 13)]
    await storage.run(lambda c: insert_registry_rows(c, storage.database, rows, version=1))
    clock = [_now_ms()]  # receive times near the insert times: the follower's and sweep's usual case
    pair = []
    for name, store in (("gw-a", "almaty-01"), ("gw-b", "astana-02")):
        index = await storage.run(lambda c: load_status_index(c, storage.database))
        pair.append(Node(name, store, tmp_path, storage, CodeVerdicts(index), clock))
    yield pair[0], pair[1], clock
    for node in pair:
        await node.journal.close()


async def _anomalies(storage: Storage, cis: str) -> list[tuple[str, str, str]]:
    return [(str(k), str(d), str(s)) for k, d, s in await storage.run(lambda c: c.query(
        f"SELECT kind, device_id, store_id FROM {storage.database}.anomalies WHERE cis = {{cis:String}} "
        "ORDER BY kind, device_id", parameters={"cis": cis}).result_rows)]


@pytest.mark.clickhouse
async def test_a_code_sold_on_node_a_is_already_sold_on_node_b_once_b_followed(
    nodes: tuple[Node, Node, list[int]],
) -> None:
    a, b, clock = nodes
    code = _code(1)
    assert _verdict_and_kinds(await a.sell(code)) == ("valid", [])
    await a.shipper.ship_all()
    assert b.may_sell(code) == (True, "valid")  # what B answered before: the gap this closes

    assert await b.follower.follow_once(b.storage) == 1
    assert b.may_sell(code) == (False, "already_sold")
    clock[0] += 1_000
    assert _verdict_and_kinds(await b.sell(code)) == ("already_sold", ["code_clone", "code_sold_twice"])
    state = b.verdicts.index.state(_cis(code))
    assert state is not None and state.known and state.sold and state.last_store_id == "astana-02"


@pytest.mark.clickhouse
async def test_moves_are_applied_in_batches_between_yields(
    nodes: tuple[Node, Node, list[int]], monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b, _ = nodes
    codes = [_code(seed) for seed in (1, 2, 3)]
    for code in codes:
        await a.sell(code)
    await a.shipper.ship_all()
    yields = 0
    real_sleep = asyncio.sleep

    async def counting_sleep(delay: float) -> None:
        nonlocal yields
        yields += 1
        await real_sleep(delay)

    monkeypatch.setattr(code_follow, "APPLY_BATCH", 2)
    monkeypatch.setattr(code_follow.asyncio, "sleep", counting_sleep)
    assert await b.follower.follow_once(b.storage) == 3
    assert yields == 2
    assert [b.may_sell(code)[0] for code in codes] == [False] * 3


@pytest.mark.clickhouse
async def test_a_return_on_node_a_makes_the_code_sellable_on_node_b_again(
    nodes: tuple[Node, Node, list[int]],
) -> None:
    a, b, clock = nodes
    code = _code(2)
    await a.sell(code)
    await a.shipper.ship_all()
    await b.follower.follow_once(b.storage)
    assert b.may_sell(code) == (False, "already_sold")

    clock[0] += 1_000
    assert _verdict_and_kinds(await a.sell(code, pb.SELL_RETURN)) == ("returned", [])
    await a.shipper.ship_all()
    assert await b.follower.follow_once(b.storage) == 1
    assert b.may_sell(code) == (True, "valid")
    clock[0] += 1_000
    assert _verdict_and_kinds(await b.sell(code)) == ("valid", [])


@pytest.mark.clickhouse
async def test_the_follower_skips_its_own_nodes_rows(
    nodes: tuple[Node, Node, list[int]], storage: Storage,
) -> None:
    a, _, clock = nodes
    code = _code(3)
    await a.sell(code)
    await a.shipper.ship_all()
    for gateway, moved in (("gw-a", 0), ("gw-b", 1)):
        assert len(await storage.run(lambda c, g=gateway: latest_moves(c, storage.database, g, 0))) == moved
    clock[0] += 1_000
    await a.sell(code, pb.SELL_RETURN)  # not shipped yet: storage still says "sold at A"
    assert await a.follower.follow_once(a.storage) == 0
    assert a.may_sell(code) == (True, "valid")  # its own older sale did not overwrite its return


@pytest.mark.clickhouse
async def test_reading_a_move_again_does_not_undo_a_later_local_move(
    nodes: tuple[Node, Node, list[int]],
) -> None:
    a, b, clock = nodes
    code = _code(4)
    await a.sell(code)
    await a.shipper.ship_all()
    assert await b.follower.follow_once(b.storage) == 1
    clock[0] += 1_000
    await b.sell(code, pb.SELL_RETURN)  # the customer brings it back to the Astana store; not shipped yet
    assert await b.follower.follow_once(b.storage) == 0  # A's sale is read again (overlap): not re-applied
    assert b.may_sell(code) == (True, "valid")
    await b.shipper.ship_all()
    assert await b.follower.follow_once(b.storage) == 1  # B's own return is now the latest move: re-applied
    assert b.may_sell(code) == (True, "valid")


@pytest.mark.clickhouse
async def test_an_older_move_of_another_node_arriving_late_does_not_win(
    nodes: tuple[Node, Node, list[int]],
) -> None:
    a, b, clock = nodes
    code = _code(5)
    await a.sell(code)  # A sells first but cannot ship yet
    clock[0] += 1_000
    await b.sell(code, pb.SELL_RETURN)  # then the item comes back at B
    await b.shipper.ship_all()
    await a.shipper.ship_all()  # A's sale lands after B's later return
    assert await b.follower.follow_once(b.storage) == 0
    assert b.may_sell(code) == (True, "valid")


@pytest.mark.clickhouse
async def test_a_sale_shipped_an_hour_late_does_not_beat_a_later_return_stored_long_before(
    nodes: tuple[Node, Node, list[int]],
) -> None:
    a, b, clock = nodes
    code = _code(11)
    clock[0] -= 3_600_000
    await a.sell(code)  # A sold it an hour ago but could not reach ClickHouse since
    clock[0] += 1_800_000
    await b.sell(code, pb.SELL_RETURN)  # half an hour later the item came back at B
    await b.shipper.ship_all()
    follower = CodeFollower(b.verdicts.index, "gw-b", watermark_ms=_now_ms() + OVERLAP_MS + 50)
    await asyncio.sleep(0.1)
    await a.shipper.ship_all()  # lands after the follower's window start; B's return is older than that
    assert await follower.follow_once(b.storage) == 0
    assert b.may_sell(code) == (True, "valid")


@pytest.mark.clickhouse
async def test_the_sweep_flags_the_later_sale_when_the_earlier_one_was_shipped_late(
    nodes: tuple[Node, Node, list[int]], storage: Storage,
) -> None:
    a, b, clock = nodes
    code = _code(8)
    clock[0] -= 3_600_000
    await a.sell(code)  # A sold it an hour ago, then lost ClickHouse
    clock[0] += 1_800_000
    assert _verdict_and_kinds(await b.sell(code)) == ("valid", [])  # B could not know
    await b.shipper.ship_all()
    await asyncio.sleep(0.1)
    since = _now_ms()
    await a.shipper.ship_all()  # A's sale is the only row of this sweep's window
    swept = await storage.run(
        lambda c: sweep_double_sales(c, storage.database, since, _now_ms() + 1_000, _now_ms(), history_ms=50))
    assert swept == 1
    expected = [("code_clone", "KKM-gw-b", "astana-02"), ("code_sold_twice", "KKM-gw-b", "astana-02")]
    assert await _anomalies(storage, _cis(code)) == expected


@pytest.mark.clickhouse
async def test_the_sweep_flags_a_double_sale_both_nodes_accepted_exactly_once(
    nodes: tuple[Node, Node, list[int]], storage: Storage,
) -> None:
    a, b, clock = nodes
    raced, flagged = _code(6), _code(7)
    assert _verdict_and_kinds(await a.sell(raced)) == ("valid", [])
    await a.sell(flagged)
    clock[0] += 1_000
    # B sells `raced` before it followed A (the race inside the follow window): valid for B too.
    assert _verdict_and_kinds(await b.sell(raced)) == ("valid", [])
    await a.shipper.ship_all()
    await b.follower.follow_once(b.storage)
    assert _verdict_and_kinds(await b.sell(flagged)) == ("already_sold", ["code_clone", "code_sold_twice"])
    await b.shipper.ship_all()
    assert await _anomalies(storage, _cis(raced)) == []

    later = _now_ms() + SETTLE_MS + 1_000  # the sweep waits until the rows have settled
    sweep = DoubleSaleSweep("gw-a", 0, FollowStats(), clock=lambda: later)
    assert await sweep.sweep_once(storage) == 1
    expected = [("code_clone", "KKM-gw-b", "astana-02"), ("code_sold_twice", "KKM-gw-b", "astana-02")]
    assert await _anomalies(storage, _cis(raced)) == expected
    assert len(await _anomalies(storage, _cis(flagged))) == 2  # flagged at ingest, not again

    again = DoubleSaleSweep("gw-a", 0, FollowStats(), clock=lambda: later + 1_000)  # a restarted node
    assert await again.sweep_once(storage) == 0
    assert await _anomalies(storage, _cis(raced)) == expected


@pytest.mark.clickhouse
async def test_one_node_sweeps_the_smallest_gateway_id_that_stores_codes(
    nodes: tuple[Node, Node, list[int]], storage: Storage,
) -> None:
    a, _, _ = nodes
    await a.sell(_code(10))
    await a.shipper.ship_all()
    later = _now_ms() + SETTLE_MS
    assert await DoubleSaleSweep("gw-b", 0, FollowStats(), clock=lambda: later).sweep_once(storage) is None
    assert await DoubleSaleSweep("gw-a", 0, FollowStats(), clock=lambda: later).sweep_once(storage) == 0


@pytest.mark.clickhouse
async def test_the_task_follows_and_sweeps_until_cancelled(
    nodes: tuple[Node, Node, list[int]], storage: Storage,
) -> None:
    a, b, _ = nodes
    code = _code(9)
    await a.sell(code)
    await a.shipper.ship_all()
    sweep = DoubleSaleSweep("gw-a", 0, FollowStats())  # gw-a's sweep, run by the same loop
    task = asyncio.create_task(follow_forever(b.follower, sweep, storage, 0.01, 0.0))
    for _ in range(500):
        await asyncio.sleep(0.01)
        if b.follower.stats.moves_applied and sweep.stats.sweeps:
            break
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert b.may_sell(code) == (False, "already_sold")
    stats = b.follower.stats
    assert stats.failures == 0 and stats.rounds >= 1 and stats.moves_applied == 1
    assert sweep.stats.sweeps >= 1 and sweep.stats.sweep_failures == 0
    text = CodeFollowMetrics().render(stats, stats.last_round_ms + 1_500)
    assert "tracegate_code_follow_lag_seconds 1.5\n" in text
    assert "tracegate_code_follow_moves_total 1\n" in text


def test_the_intervals_are_settings() -> None:
    environ = {"TRACEGATE_CODE_FOLLOW_INTERVAL_S": "0.5", "TRACEGATE_CODE_SWEEP_INTERVAL_S": "10"}
    settings = load_settings(environ=environ)
    assert (settings.code_follow_interval_s, settings.code_sweep_interval_s) == (0.5, 10.0)
    assert (Settings().code_follow_interval_s, Settings().code_sweep_interval_s) == (2.0, 30.0)


@pytest.mark.clickhouse
async def test_the_service_follows_only_with_a_server_shows_it_in_metrics_and_stops(
    tmp_path: Path, aiohttp_client: Any,
) -> None:
    settings = storage_settings(tmp_path / "svc", gateway_id="gw-svc", storage_process=0,
                                code_follow_interval_s=0.01)
    threshold = gc.get_threshold()
    service = await GatewayService.start(settings)  # it freezes the heap and raises gc thresholds: undone
    try:
        assert service.code_follower is None  # embedded storage: one node, nothing to follow
        service.start_following(_now_ms())
        follower = service.code_follower
        assert follower is not None
        for _ in range(300):
            await asyncio.sleep(0.01)
            if follower.stats.rounds >= 2:
                break
        app = web.Application()
        app[SERVICE] = service
        app.router.add_get("/metrics", get_metrics)
        app[METRICS], app[CODE_FOLLOW_METRICS] = GatewayMetrics(), CodeFollowMetrics()
        client = await aiohttp_client(app)
        text = await (await client.get("/metrics")).text()
        await client.close()
        assert f"tracegate_code_follow_rounds_total {follower.stats.rounds}" in text
        assert "tracegate_code_follow_lag_seconds " in text and follower.stats.failures == 0
    finally:
        await service.stop()
        gc.unfreeze()
        gc.set_threshold(*threshold)
    assert service._follow_task is not None and service._follow_task.cancelled()


@pytest.mark.clickhouse
async def test_rows_stored_before_migration_0006_are_not_new_to_the_follower(tmp_path: Path) -> None:
    storage = Storage.open(storage_settings(tmp_path))
    database = storage.database
    context = MigrationContext(database, SINGLE_NODE)

    def upgrade(client: Any) -> list[tuple[Any, ...]]:
        client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
        for migration in all_migrations():
            if migration.id.startswith("0006"):  # rows stored by the version before, then the upgrade
                client.command(f"INSERT INTO {database}.code_events (cis, received_at, kind, seller_tin) "
                               "VALUES ('old-cis', now64(3) - INTERVAL 1 DAY, 'sale', 'S')")
            for statement in migration.statements(context):
                client.command(statement)
        for _ in range(100):  # MATERIALIZE runs as a background mutation
            if not client.query("SELECT count() FROM system.mutations WHERE database = {db:String} "
                                "AND NOT is_done", parameters={"db": database}).result_rows[0][0]:
                break
            time.sleep(0.05)
        return list(client.query(f"SELECT inserted_at = received_at, gateway_id FROM {database}.code_events"
                                 ).result_rows)

    try:
        assert await storage.run(upgrade) == [(True, "")]  # its receive time, not "now" at every read
        moves = await storage.run(lambda c: latest_moves(c, database, "gw-new", _now_ms() - 60_000))
        assert len(moves) == 0
    finally:
        storage.close()

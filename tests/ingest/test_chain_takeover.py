"""A node that does not own a device's chain (the balancer moved it) loads the head from storage first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway import errors
from gateway.cluster.acceptance_sweep import AcceptanceSweep
from gateway.devices import KnownKey
from gateway.errors import GatewayError
from gateway.ingest.chain import ChainState
from gateway.ingest.chain_takeover import LoadHead, needs_stored_head, refresh_heads
from gateway.storage.chain_heads import ChainHead
from gateway.storage.client import Storage
from gateway.wire import pb, signing
from tests.ingest.conftest import NOW_MS, MemoryJournal, Register, receipt, rotation_to
from tests.ingest.nodes import KeeperHeads, Node
from tests.storage.journal_records import migrated_storage, storage_settings


def _statuses(acks: list[pb.EventAck]) -> list[str]:
    return [pb.AckStatus.Name(a.status) if not a.error_code else a.error_code for a in acks]


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    async with migrated_storage(storage_settings(tmp_path)) as opened:
        yield opened


async def _node(tmp_path: Path, name: str, storage: Storage, register: Register, takeover: bool,
                keeper: KeeperHeads | None = None) -> Node:
    settings = storage_settings(tmp_path / name, gateway_id=name, database=storage.database)
    return Node(settings, storage, [register], takeover=takeover, keeper=keeper)


@pytest.mark.clickhouse
async def test_moved_device_gets_duplicates_and_forks_caught_on_the_new_node(
    tmp_path: Path, storage: Storage
) -> None:
    register = Register("KKM-MOVED")
    node_a = await _node(tmp_path, "gw-a", storage, register, takeover=True)
    sent = register.run(3)
    first = await node_a.send(*sent)
    assert _statuses(first) == ["ACCEPTED"] * 3
    await node_a.shipper.ship_all()

    # The balancer moves the device: node B has never seen it (no head in memory).
    node_b = await _node(tmp_path, "gw-b", storage, register, takeover=True)
    assert node_b.chains.head(register.device_id).seq == 0
    resent = await node_b.send(sent[2])
    assert _statuses(resent) == ["DUPLICATE"]
    assert resent[0].fiscal_sign == first[2].fiscal_sign
    assert node_b.chains.head(register.device_id).seq == 3  # taken over from storage

    fork = register.envelope(receipt(prices=(999_00,)), seq=2, prev_hash=sent[0].prev_hash, advance=False)
    forked = await node_b.send(fork)
    assert _statuses(forked) == ["chain_fork"]

    following = await node_b.send(register.envelope())
    assert _statuses(following) == ["ACCEPTED"] and following[0].seq == 4
    for node in (node_a, node_b):
        await node.journal.close()


@pytest.mark.clickhouse
async def test_without_takeover_a_fresh_node_would_accept_a_resend_twice(
    tmp_path: Path, storage: Storage
) -> None:
    """The failure the takeover prevents: memory alone judges seq 1 as the start of a new chain."""
    register = Register("KKM-NAIVE")
    node_a = await _node(tmp_path, "gw-a", storage, register, takeover=True)
    sent = register.run(2)
    assert _statuses(await node_a.send(*sent)) == ["ACCEPTED"] * 2
    await node_a.shipper.ship_all()
    naive = await _node(tmp_path, "gw-naive", storage, register, takeover=False)
    assert _statuses(await naive.send(sent[0])) == ["ACCEPTED"]
    for node in (node_a, naive):
        await node.journal.close()


@pytest.mark.clickhouse
async def test_a_stale_head_is_refreshed_when_the_batch_would_be_a_gap(
    tmp_path: Path, storage: Storage
) -> None:
    """The device went to node A and came back: B's memory stops at seq 1, storage knows seq 3."""
    register = Register("KKM-BACK")
    node_b = await _node(tmp_path, "gw-b", storage, register, takeover=True)
    assert _statuses(await node_b.send(*register.run(1))) == ["ACCEPTED"]
    await node_b.shipper.ship_all()
    node_a = await _node(tmp_path, "gw-a", storage, register, takeover=True)
    assert _statuses(await node_a.send(*register.run(2))) == ["ACCEPTED"] * 2
    await node_a.shipper.ship_all()
    assert _statuses(await node_b.send(register.envelope())) == ["ACCEPTED"]
    assert node_b.chains.head(register.device_id).seq == 4
    for node in (node_a, node_b):
        await node.journal.close()


@pytest.mark.clickhouse
async def test_a_resend_signed_by_a_retired_key_is_a_duplicate_on_the_node_that_took_the_device_over(
    tmp_path: Path, storage: Storage
) -> None:
    register = Register("KKM-ROTATED")
    node_a = await _node(tmp_path, "gw-a", storage, register, takeover=True)
    retired = KnownKey(register.key_id, register.public_key_pem)
    new_key = signing.new_private_key()
    sent = [register.envelope(receipt()), register.envelope(rotation_to(new_key))]
    accepted = await node_a.send(*sent)
    assert _statuses(accepted) == ["ACCEPTED"] * 2
    await node_a.shipper.ship_all()
    # Node B knows the device under its new key, its key history (device_keys), and nothing of its chain.
    register.key = new_key

    node_b = await _node(tmp_path, "gw-b", storage, register, takeover=True)
    node_b.pipeline._registry.put_key(register.device_id, retired)
    acks = await node_b.send(*sent)
    assert _statuses(acks) == ["DUPLICATE"] * 2
    assert [a.fiscal_sign for a in acks] == [a.fiscal_sign for a in accepted]


def test_a_device_this_node_serves_needs_no_storage_read() -> None:
    chains = ChainState()
    assert needs_stored_head(chains, "KKM-1", [1])
    chains.remember("KKM-1", 5, b"h" * 32, "FS", 6)
    assert not needs_stored_head(chains, "KKM-1", [6, 7])
    assert not needs_stored_head(chains, "KKM-1", [3])  # older seqs: the envelope lookup answers
    assert needs_stored_head(chains, "KKM-1", [7])  # a gap: maybe another node accepted seq 6


async def test_storage_unreadable_is_a_retryable_503_not_a_guess() -> None:
    async def broken(device_id: str, seller_tin: str) -> ChainHead | None:
        raise ConnectionError("clickhouse down")

    load: LoadHead = broken
    with pytest.raises(GatewayError) as caught:
        await refresh_heads(ChainState(), load, {"KKM-1": ("990340000123", [1])})
    assert caught.value.error is errors.STORAGE_UNAVAILABLE
    assert caught.value.error.http_status == 503 and caught.value.retry_after_s


@pytest.mark.clickhouse
async def test_an_event_acked_on_the_old_node_and_not_shipped_is_not_accepted_again_on_the_new(
    tmp_path: Path, storage: Storage
) -> None:
    """With chain_heads in Keeper the new node knows the old node's head before anything is shipped: the
    register's resend waits (retryable) until storage has it, and is then a DUPLICATE; the old node, still
    sent a batch by a stale balancer, is refused retryably instead of accepting a fork of the chain."""
    keeper = KeeperHeads()
    register = Register("KKM-KEEPER")
    node_a = await _node(tmp_path, "gw-a", storage, register, takeover=True, keeper=keeper)
    sent = register.run(3)
    first = await node_a.send(*sent)
    assert _statuses(first) == ["ACCEPTED"] * 3  # acked on A, in A's journal only

    node_b = await _node(tmp_path, "gw-b", storage, register, takeover=True, keeper=keeper)
    # The ack was lost; the balancer now sends the device to B, which has Keeper's head (seq 3, its sign).
    resent = await node_b.send(sent[1], sent[2])
    assert _statuses(resent) == ["history_unavailable", "DUPLICATE"] and resent[0].retryable
    assert resent[1].fiscal_sign == first[2].fiscal_sign
    following = register.envelope()
    assert _statuses(await node_b.send(following)) == ["ACCEPTED"]
    assert keeper.heads[register.device_id].seq == 4

    late = register.envelope(receipt(prices=(777_00,)), seq=4, prev_hash=following.prev_hash, advance=False)
    with pytest.raises(GatewayError) as caught:  # A still believes seq 3 is the head
        await node_a.send(late)
    assert caught.value.error is errors.CHAIN_MOVED and caught.value.error.retryable
    assert node_a.chains.head(register.device_id).seq == 0, "A forgot the head: it asks Keeper next time"

    await node_a.shipper.ship_all()
    assert _statuses(await node_b.send(sent[1])) == ["DUPLICATE"]  # storage has it now
    await node_b.shipper.ship_all()
    stored = await storage.run(lambda c: c.query(
        f"SELECT seq, count() FROM {storage.database}.events GROUP BY seq ORDER BY seq").result_rows)
    assert stored == [(1, 1), (2, 1), (3, 1), (4, 1)]
    for node in (node_a, node_b):
        await node.journal.close()


@pytest.mark.clickhouse
async def test_the_sweep_flags_every_event_two_nodes_accepted_once(tmp_path: Path, storage: Storage) -> None:
    """Without chain heads in Keeper (a single server, or Keeper away) two nodes can accept one event:
    the sweep finds each such event, writes one double_acceptance anomaly for it, and counts it."""
    register = Register("KKM-TWICE")
    node_a = await _node(tmp_path, "gw-a", storage, register, takeover=True)
    sent = register.run(2)
    assert _statuses(await node_a.send(*sent)) == ["ACCEPTED"] * 2
    naive = await _node(tmp_path, "gw-naive", storage, register, takeover=False)
    assert _statuses(await naive.send(sent[0])) == ["ACCEPTED"]  # seq 1 accepted a second time
    for node in (node_a, naive):
        await node.shipper.ship_all()
    sweep = AcceptanceSweep(clock=lambda: NOW_MS + 1_000)
    assert await sweep.sweep_once(storage) == [(register.device_id, 1)]
    assert await sweep.sweep_once(storage) == [(register.device_id, 1)]  # found again, flagged once
    flagged = await storage.run(lambda c: c.query(
        f"SELECT seq, detail FROM {storage.database}.anomalies WHERE kind = 'double_acceptance'").result_rows)
    assert len(flagged) == 1 and flagged[0][0] == 1 and "gw-a, gw-naive" in flagged[0][1]
    assert sweep.stats.found == 2 and sweep.stats.sweeps == 2
    for node in (node_a, naive):
        await node.journal.close()


@pytest.mark.clickhouse
async def test_a_head_moved_for_a_batch_the_journal_refused_is_moved_back(
    tmp_path: Path, storage: Storage
) -> None:
    """Else the node taking the device over would take the refused event for one acked and unshipped."""
    keeper = KeeperHeads()
    register = Register("KKM-BACK-OUT")
    node_a = await _node(tmp_path, "gw-a", storage, register, takeover=True, keeper=keeper)
    assert _statuses(await node_a.send(*register.run(2))) == ["ACCEPTED"] * 2
    full = MemoryJournal()
    full.refuse = GatewayError(errors.BACKPRESSURE, retry_after_s=1)
    node_a.pipeline._journal = full
    refused = register.envelope(receipt(prices=(300_00,)))
    with pytest.raises(GatewayError):
        await node_a.send(refused)
    assert keeper.heads[register.device_id].seq == 2
    node_b = await _node(tmp_path, "gw-b", storage, register, takeover=True, keeper=keeper)
    assert _statuses(await node_b.send(refused)) == ["ACCEPTED"]
    await node_b.journal.close()

"""A node that does not own a device's chain (the balancer moved it) loads the head from storage first."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest
from storage.journal_records import migrated_storage, storage_settings

from gateway import errors
from gateway.devices import DeviceRegistry, KnownKey
from gateway.errors import GatewayError
from gateway.ingest.chain import ChainState
from gateway.ingest.chain_takeover import LoadHead, needs_stored_head, refresh_heads
from gateway.ingest.fiscal_sign import FiscalSigner
from gateway.ingest.journal import Journal
from gateway.ingest.pipeline import IngestPipeline
from gateway.ingest.shipper import Shipper
from gateway.settings import Settings
from gateway.storage.chain_heads import ChainHead, StoredEnvelope, load_chain_head, load_envelopes
from gateway.storage.client import Storage
from gateway.wire import pb, signing
from ingest.conftest import FISCAL_KEY, NOW_MS, Register, receipt, rotation_to


def _statuses(acks: list[pb.EventAck]) -> list[str]:
    return [pb.AckStatus.Name(a.status) if not a.error_code else a.error_code for a in acks]


class Node:
    """One gateway node's pipeline over a real journal, sharing storage with the other nodes."""

    def __init__(self, settings: Settings, storage: Storage, register: Register, *, takeover: bool) -> None:
        self.storage = storage
        self.chains = ChainState()
        self.journal = Journal.open(settings.journal_dir, segment_bytes=1 << 20, budget_bytes=1 << 26)

        async def lookup(device_id: str, seqs: list[int]) -> Mapping[int, StoredEnvelope]:
            return await storage.run(lambda c: load_envelopes(c, storage.database, device_id, seqs))

        async def load_head(device_id: str, seller_tin: str) -> ChainHead | None:
            return await storage.run(lambda c: load_chain_head(c, storage.database, device_id, seller_tin))

        self.pipeline = IngestPipeline(
            settings, DeviceRegistry([register.device()]), self.chains, FiscalSigner(FISCAL_KEY),
            self.journal, lookup, clock=lambda: NOW_MS, load_head=load_head if takeover else None,
        )
        self.shipper = Shipper(self.journal, storage, settings)

    async def send(self, *envelopes: pb.Envelope) -> list[pb.EventAck]:
        """One batch through decode and ingest."""
        body = pb.IngestBatch(envelopes=envelopes).SerializeToString()
        return list((await self.pipeline.ingest(self.pipeline.decode_batch(body))).acks)


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    async with migrated_storage(storage_settings(tmp_path)) as opened:
        yield opened


async def _node(tmp_path: Path, name: str, storage: Storage, register: Register, takeover: bool) -> Node:
    settings = storage_settings(tmp_path / name, gateway_id=name, database=storage.database)
    return Node(settings, storage, register, takeover=takeover)


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

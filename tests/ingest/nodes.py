"""Gateway nodes sharing one ClickHouse, and chain_heads as Keeper keeps them for every node (a stand-in:
Keeper cannot run here, chDB has none)."""

from __future__ import annotations

from gateway.devices import DeviceRegistry
from gateway.ingest.chain import ChainState, HeadMove
from gateway.ingest.chain_takeover import MoveHeads
from gateway.ingest.fiscal_sign import FiscalSigner
from gateway.ingest.journal import Journal
from gateway.ingest.pipeline import IngestPipeline
from gateway.service import chain_storage
from gateway.settings import Settings
from gateway.shipping.shipper import Shipper
from gateway.storage.chain_heads import ChainHead
from gateway.storage.client import Storage
from gateway.wire import pb
from tests.ingest.conftest import FISCAL_KEY, NOW_MS, Register


class KeeperHeads:
    """chain_heads as Keeper keeps it for every node, with storage.chain_heads.move_heads' rule: a head
    moves only from the value the batch was judged against, or to it again by the node that set it."""

    def __init__(self) -> None:
        self.heads: dict[str, ChainHead] = {}
        self.owners: dict[str, str] = {}  # device -> the gateway that set its head

    def mover(self, gateway_id: str) -> MoveHeads:
        """The compare-and-set one node calls."""

        async def move(moves: list[HeadMove]) -> list[str]:
            lost = []
            for move in moves:
                current = self.heads.get(move.device_id)
                if current is not None:
                    at = (current.seq, current.envelope_hash)
                    again = at == (move.seq, move.envelope_hash) and self.owners[move.device_id] == gateway_id
                    if at != (move.from_seq, move.from_hash) and not again:
                        lost.append(move.device_id)
                        continue
                self.heads[move.device_id] = ChainHead(
                    move.device_id, move.seq, move.envelope_hash, move.fiscal_sign, 0, next_seq=move.next_seq
                )
                self.owners[move.device_id] = gateway_id
            return lost

        return move


class Node:
    """One gateway node's pipeline over a real journal, sharing storage with the other nodes, wired by the
    service's own chain_storage (as on a server); keeper: chain heads in Keeper, as on a cluster."""

    def __init__(self, settings: Settings, storage: Storage, registers: list[Register], *, takeover: bool,
                 keeper: KeeperHeads | None = None) -> None:
        self.storage = storage
        self.chains = ChainState()
        self.journal = Journal.open(settings.journal_dir, segment_bytes=1 << 20, budget_bytes=1 << 26)
        lookup, stored_head, _ = chain_storage(storage, settings)

        async def load_head(device_id: str, seller_tin: str) -> ChainHead | None:
            if keeper is not None and device_id in keeper.heads:
                return keeper.heads[device_id]
            return await stored_head(device_id, seller_tin)

        self.pipeline = IngestPipeline(
            settings, DeviceRegistry([r.device() for r in registers]), self.chains, FiscalSigner(FISCAL_KEY),
            self.journal, lookup, clock=lambda: NOW_MS, load_head=load_head if takeover else None,
            move_heads=keeper.mover(settings.gateway_id) if keeper is not None else None,
        )
        self.shipper = Shipper(self.journal, storage, settings)

    async def send(self, *envelopes: pb.Envelope) -> list[pb.EventAck]:
        """One batch through decode and ingest."""
        body = pb.IngestBatch(envelopes=envelopes).SerializeToString()
        return list((await self.pipeline.ingest(self.pipeline.decode_batch(body))).acks)

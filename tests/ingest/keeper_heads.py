"""chain_heads as Keeper keeps them, for tests: Keeper cannot run here (chDB has none)."""

from __future__ import annotations

from gateway.ingest.chain import HeadMove
from gateway.ingest.chain_takeover import MoveHeads
from gateway.storage.chain_heads import ChainHead


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

"""Chain takeover: a device with no (or an older) head in memory gets its stored head before deciding; on a
cluster each batch moves the device's head in Keeper by compare-and-set before it is acked, so two nodes
never both accept one seq (a node that lost the race forgets the head and the register resends)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping

from gateway import errors
from gateway.errors import GatewayError
from gateway.ingest.chain import ChainState, HeadMove, StoredHead

log = logging.getLogger(__name__)

# (device_id, seller_tin) -> the device's newest stored event, or None (gateway.storage.chain_heads).
LoadHead = Callable[[str, str], Awaitable[StoredHead | None]]

RETRY_AFTER_S = 5


# moves -> the devices whose head another node moved first (gateway.storage.chain_heads.move_heads).
MoveHeads = Callable[[list[HeadMove]], Awaitable[list[str]]]


async def move_heads_or_refuse(
    chains: ChainState, move_heads: MoveHeads, moves: list[HeadMove], backs: list[HeadMove]
) -> None:
    """Move the heads before the batch is journalled; when another node moved one first, forget that head
    (the next request reads it), move the others back and refuse the request, retryably: nothing of it was
    accepted. backs: the moves that undo moves, device by device."""
    if not moves:
        return
    try:
        lost = await move_heads(moves)
    except Exception as exc:
        log.warning("cannot move chain heads in Keeper: %s", exc)
        raise GatewayError(errors.STORAGE_UNAVAILABLE, "chain heads cannot be written now; retry later",
                           retry_after_s=RETRY_AFTER_S) from exc
    if lost:
        for device_id in lost:
            chains.forget(device_id)
        await move_heads_back(move_heads, [back for back in backs if back.device_id not in lost])
        raise GatewayError(errors.CHAIN_MOVED, f"the chain of {', '.join(sorted(lost))} went on at another "
                           "gateway node meanwhile; resend the batch", retry_after_s=1)


async def move_heads_back(move_heads: MoveHeads, backs: list[HeadMove]) -> None:
    """Undo head moves whose batch was not journalled. Best effort: a head left ahead (Keeper away now)
    makes another node answer that device history_unavailable until this node moves it again on the
    register's resend, which it may (it set that head)."""
    if not backs:
        return
    try:
        await move_heads(backs)
    except Exception as exc:
        log.error("chain heads of %s could not be moved back: %s", [b.device_id for b in backs], exc)


def needs_stored_head(chains: ChainState, device_id: str, seqs: Iterable[int]) -> bool:
    """True when memory cannot be trusted to judge these seqs: no head at all, or they would be a gap.

    A gap may only mean that another node accepted the events in between (the device was moved here);
    storage knows, as far as the other node has shipped. A device this node already serves costs nothing.
    """
    head = chains.head(device_id)
    if head.seq == 0:
        return True
    return min(seqs, default=0) > head.next_seq


async def refresh_heads(
    chains: ChainState, load_head: LoadHead, wanted: Mapping[str, tuple[str, list[int]]]
) -> int:
    """Load the stored head of each device (device_id -> (seller_tin, seqs)) that needs it; returns how many
    heads moved. Storage failing is a retryable request error: deciding without the head could accept a
    resend twice or miss a fork."""
    moved = 0
    for device_id, (seller_tin, seqs) in wanted.items():
        if not needs_stored_head(chains, device_id, seqs):
            continue
        before = chains.head(device_id).seq
        try:
            head = await load_head(device_id, seller_tin)
        except Exception as exc:
            log.warning("cannot load the chain head of %s from storage: %s", device_id, exc)
            raise GatewayError(
                errors.STORAGE_UNAVAILABLE,
                f"the chain of {device_id} is not known on this node and storage cannot be read; retry later",
                retry_after_s=RETRY_AFTER_S,
            ) from exc
        if head is not None and head.seq > before:
            chains.restore([head])
            moved += 1
            log.info("chain of %s taken over from storage at seq %d (was %d)", device_id, head.seq, before)
    return moved

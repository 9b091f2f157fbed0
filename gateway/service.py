"""The running gateway's parts, started and stopped together: storage, registry, chains, journal, shipper."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.cluster.acceptance_sweep import AcceptanceSweep, sweep_forever
from gateway.cluster.code_follow import CodeFollower, DoubleSaleSweep, follow_forever
from gateway.devices import DeviceRegistry
from gateway.ingest.chain import ChainState, HeadMove
from gateway.ingest.chain_takeover import LoadHead, MoveHeads
from gateway.ingest.code_verdicts import CodeVerdicts
from gateway.ingest.fiscal_sign import FiscalSigner
from gateway.ingest.journal import Journal
from gateway.ingest.pipeline import IngestPipeline, LookupEnvelopes
from gateway.ofd.dispatch import OfdDispatcher
from gateway.ofd.exchange import RegisterExchanges
from gateway.ofd.keys import OfdKeys
from gateway.security import device_keys
from gateway.security.check_replay import CheckNonces
from gateway.security.pii_keys import load_key_ring
from gateway.settings import Settings
from gateway.shipping.shipper import Shipper
from gateway.storage.chain_heads import (
    ChainHead,
    StoredEnvelope,
    load_chain_head,
    load_chain_heads,
    load_envelopes,
    load_keeper_head,
)
from gateway.storage.chain_heads import move_heads as move_chain_heads
from gateway.storage.client import Storage
from gateway.storage.code_registry_store import load_status_index
from gateway.storage.device_store import load_registry
from gateway.storage.migrations import ensure_schema
from gateway.storage.ofd_exchange_store import load_last_exchanges
from gateway.storage.rows import decode_event
from gateway.wire import pb

log = logging.getLogger(__name__)


def ensure_admin_token(path: Path) -> str | None:
    """Create the admin token file (0600) if missing; returns the new token, or None if it existed."""
    if path.exists():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
        f.flush()
        os.fsync(f.fileno())  # printed once: after a power cut it must still be the one in the file
    return token


def read_admin_token(path: Path) -> str:
    """The admin token stored in the data directory."""
    return path.read_text().strip()


def chain_storage(storage: Storage, settings: Settings) -> tuple[LookupEnvelopes, LoadHead, MoveHeads]:
    """What the pipeline reads and writes of chains in storage: stored envelopes by seq; a device's stored
    head (on a cluster Keeper's first: it counts what other nodes acked and have not shipped yet); and,
    on a cluster, the compare-and-set of heads."""

    async def lookup(device_id: str, seqs: list[int]) -> dict[int, StoredEnvelope]:
        return await storage.run(lambda c: load_envelopes(c, storage.database, device_id, seqs))

    def stored_head(client: Any, device_id: str, seller_tin: str) -> ChainHead | None:
        keeper = load_keeper_head(client, storage.database, device_id) if settings.cluster else None
        return keeper or load_chain_head(client, storage.database, device_id, seller_tin)

    async def load_head(device_id: str, seller_tin: str) -> ChainHead | None:
        return await storage.run(lambda c: stored_head(c, device_id, seller_tin))

    async def move_heads(moves: list[HeadMove]) -> list[str]:
        now_ms = time.time_ns() // 1_000_000
        return await storage.run(
            lambda c: move_chain_heads(c, storage.database, moves, settings.gateway_id, now_ms))

    return lookup, load_head, move_heads


@dataclass
class GatewayService:
    """Everything one gateway node runs; built by start() and torn down by stop()."""

    settings: Settings
    storage: Storage
    registry: DeviceRegistry
    chains: ChainState
    fiscal: FiscalSigner
    journal: Journal
    pipeline: IngestPipeline
    shipper: Shipper
    admin_token: str
    check_nonces: CheckNonces  # the pre-sale checks answered lately: a replay is refused
    ofd_keys: OfdKeys
    ofd_handler: OfdDispatcher  # the OFD front door's handler (gateway/ofd/server.py takes it from here)
    new_admin_token: str | None = None
    code_verdicts: CodeVerdicts | None = None
    code_follower: CodeFollower | None = None  # with a ClickHouse server only (other nodes may sell)
    acceptance_sweep: AcceptanceSweep | None = None  # with a ClickHouse server only (other nodes accept)
    _shipper_task: asyncio.Task[None] | None = field(default=None, repr=False)
    _registry_task: asyncio.Task[None] | None = field(default=None, repr=False)
    _follow_task: asyncio.Task[None] | None = field(default=None, repr=False)
    _sweep_task: asyncio.Task[None] | None = field(default=None, repr=False)

    @classmethod
    async def start(cls, settings: Settings) -> GatewayService:
        """Open storage (migrating it), load devices and chain heads, recover the journal, start shipping."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        # Receipts, keys, the journal and embedded ClickHouse's parts: the service user's alone, also
        # for files made before (what is inside a 0700 directory is out of others' reach).
        settings.data_dir.chmod(0o700)
        new_token = ensure_admin_token(settings.admin_token_file)
        storage = Storage.open(settings, own_process=settings.storage_process > 0)
        if settings.embedded:  # the chDB directory may lie outside the data directory
            Path(settings.resolved_storage_url.removeprefix("chdb://")).chmod(0o700)
        applied = await storage.run(lambda c: ensure_schema(c, storage.database, settings.cluster))
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
        registry = await storage.run(lambda c: load_registry(c, storage.database))
        # Rotations already shipped: a node that missed the devices row write still learns the new keys.
        device_keys.apply_key_rotations(
            registry, await storage.run(lambda c: device_keys.load_stored_rotations(c, storage.database))
        )
        chains = ChainState()
        chains.restore(await storage.run(lambda c: load_chain_heads(c, storage.database)))
        # Every known code's status, in memory (the pre-sale check answers from it): the registry plus
        # each code's last sale or return.
        loading_from_ms = time.time_ns() // 1_000_000  # the follower reads what is inserted from here on
        code_verdicts = CodeVerdicts(await storage.run(lambda c: load_status_index(c, storage.database)))
        journal = Journal.open(
            settings.journal_dir,
            segment_bytes=settings.journal_segment_bytes,
            budget_bytes=settings.journal_budget_bytes,
        )
        settings.journal_dir.chmod(0o700)
        ofd_keys = OfdKeys.load_or_create(settings.ofd_key_file)
        # OFD registers' last exchanges: those shipped from ClickHouse, then the journal's (newer) on top.
        exchanges = RegisterExchanges(ofd_keys)
        exchanges.restore(await storage.run(lambda c: load_last_exchanges(c, storage.database)))
        replayed = 0
        # Checks answered before this start: a replay of one is refused (security/check_replay.py).
        check_nonces = CheckNonces(settings.limits.max_future_skew_s * 1000)
        for raw in journal.replay():
            record = pb.JournalRecord.FromString(raw)
            if record.HasField("code_check"):
                check = record.code_check
                check_nonces.remember(record.envelope.device_id, check.nonce, check.device_time_ms)
            if record.HasField("ofd_exchange"):
                exchanges.restore([record.ofd_exchange])
            if record.accepted:
                chains.apply_record(record)
                device_keys.apply_key_rotations(registry, [record])
                event = decode_event(record) if record.code_verdicts else None
                if event is not None:  # sales and returns not yet shipped move code status too
                    code_verdicts.apply_record(record, event)
                replayed += 1
        log.info("devices: %d, journal records replayed: %d, OFD registers heard from: %d",
                 len(registry), replayed, len(exchanges))
        fiscal = FiscalSigner.load_or_create(settings.fiscal_key_file)

        lookup, load_head, move_heads = chain_storage(storage, settings)
        # Embedded storage has one gateway: memory is complete. With a server, other nodes write too; on a
        # cluster (Keeper) each batch also moves the device's head by compare-and-set before its ack.
        takeover = None if settings.embedded else load_head
        pipeline = IngestPipeline(
            settings, registry, chains, fiscal, journal, lookup, load_head=takeover,
            move_heads=move_heads if settings.cluster else None,
            code_verdicts=code_verdicts, pii=load_key_ring(settings),
            on_key_rotation=lambda devices: device_keys.save_devices(storage, devices),
        )
        shipper = Shipper(journal, storage, settings)
        handler = OfdDispatcher(settings, registry, chains, pipeline, journal, fiscal, ofd_keys, exchanges)
        service = cls(
            settings,
            storage,
            registry,
            chains,
            fiscal,
            journal,
            pipeline,
            shipper,
            admin_token=read_admin_token(settings.admin_token_file),
            ofd_keys=ofd_keys,
            ofd_handler=handler,
            new_admin_token=new_token,
            code_verdicts=code_verdicts,
            check_nonces=check_nonces,
        )
        # Everything loaded so far (registry, chain heads, the code status index) lives as long as the
        # process: out of the collector's sight, a full collection no longer walks it (it paused every
        # request in flight for 60-110 ms a few times a minute under load).
        gc.collect()
        gc.freeze()
        # Requests allocate many short-lived tracked objects (upb message wrappers among them): at the
        # default threshold (700) a young collection ran every few receipts and walked whatever the
        # requests in flight held, ~1.2 s of CPU in 80,000 receipts; at 50,000 it is ~0.1 s. Cyclic
        # garbage still goes, just in larger rounds.
        gc.set_threshold(50_000, 20, 100)
        service._shipper_task = asyncio.create_task(shipper.run(), name="shipper")
        service._registry_task = asyncio.create_task(
            device_keys.refresh_forever(storage, registry, settings.registry_refresh_s), name="registry"
        )
        if not settings.embedded:  # embedded storage has one gateway: its index sees every sale already
            service.start_following(loading_from_ms)
            service.acceptance_sweep = AcceptanceSweep()
            service._sweep_task = asyncio.create_task(
                sweep_forever(service.acceptance_sweep, storage, settings.acceptance_sweep_interval_s),
                name="acceptance-sweep",
            )
        return service

    def start_following(self, loaded_from_ms: int) -> None:
        """Follow the other nodes' code moves and sweep for double sales (docs/marking-codes.md).

        start() calls it when storage is a server; loaded_from_ms: when the status index began loading.
        """
        assert self.code_verdicts is not None
        gateway_id = self.settings.gateway_id
        follower = CodeFollower(self.code_verdicts.index, gateway_id, loaded_from_ms)
        sweep = DoubleSaleSweep(gateway_id, 0, follower.stats)  # 0: the first sweep reads back an hour
        self.code_follower = follower
        self._follow_task = asyncio.create_task(
            follow_forever(follower, sweep, self.storage, self.settings.code_follow_interval_s,
                           self.settings.code_sweep_interval_s),
            name="code-follow",
        )

    def write_runtime_file(self, url: str, ofd: list[str] | None = None) -> None:
        """Tell CLI commands on this machine that a gateway serves this data directory, and where (ofd:
        host:port of the OFD front door's sockets, when it listens)."""
        info: dict[str, object] = {"pid": os.getpid(), "url": url}
        if ofd:
            info["ofd"] = ofd
        self.settings.runtime_file.write_text(json.dumps(info))

    async def stop(self) -> None:
        """Stop shipping, close the journal and storage; acked events stay in the journal for next start."""
        self.settings.runtime_file.unlink(missing_ok=True)
        for task in (self._follow_task, self._sweep_task, self._registry_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._shipper_task is not None:
            self._shipper_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._shipper_task
            # The last confirmed batch into the checkpoint file (else the next start ships it again).
            try:
                await self.shipper.flush()
            except OSError as exc:
                log.warning("shipper checkpoint not written at stop (its last batch ships again): %s", exc)
        await self.journal.close()
        self.storage.close()


def running_gateway_url(settings: Settings) -> str | None:
    """The URL of a live gateway serving this data directory, or None."""
    try:
        info = json.loads(settings.runtime_file.read_text())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(info["url"])

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

from gateway.codes.follow import CodeFollower, DoubleSaleSweep, follow_forever
from gateway.devices import DeviceRegistry
from gateway.ingest.chain import ChainState
from gateway.ingest.code_verdicts import CodeVerdicts
from gateway.ingest.fiscal_sign import FiscalSigner
from gateway.ingest.journal import Journal
from gateway.ingest.pipeline import IngestPipeline
from gateway.ingest.shipper import Shipper
from gateway.ofd.dispatch import OfdDispatcher
from gateway.ofd.exchange import RegisterExchanges
from gateway.ofd.keys import OfdKeys
from gateway.security import device_keys
from gateway.settings import Settings
from gateway.storage.chain_heads import (
    ChainHead,
    StoredEnvelope,
    load_chain_head,
    load_chain_heads,
    load_envelopes,
)
from gateway.storage.client import Storage
from gateway.storage.code_registry_store import load_status_index
from gateway.storage.device_store import load_devices
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
    return token


def read_admin_token(path: Path) -> str:
    """The admin token stored in the data directory."""
    return path.read_text().strip()


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
    ofd_keys: OfdKeys
    ofd_handler: OfdDispatcher  # the OFD front door's handler (gateway/ofd/server.py takes it from here)
    new_admin_token: str | None = None
    code_verdicts: CodeVerdicts | None = None
    code_follower: CodeFollower | None = None  # with a ClickHouse server only (other nodes may sell)
    _shipper_task: asyncio.Task[None] | None = field(default=None, repr=False)
    _registry_task: asyncio.Task[None] | None = field(default=None, repr=False)
    _follow_task: asyncio.Task[None] | None = field(default=None, repr=False)

    @classmethod
    async def start(cls, settings: Settings) -> GatewayService:
        """Open storage (migrating it), load devices and chain heads, recover the journal, start shipping."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        new_token = ensure_admin_token(settings.admin_token_file)
        storage = Storage.open(settings, own_process=settings.storage_process > 0)
        applied = await storage.run(lambda c: ensure_schema(c, storage.database, settings.cluster))
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
        registry = DeviceRegistry(await storage.run(lambda c: load_devices(c, storage.database)))
        # Rotations already shipped: a node that missed the devices row write still learns the new keys.
        device_keys.apply_accepted(
            registry, await storage.run(lambda c: device_keys.load_stored_rotations(c, storage.database))
        )
        chains = ChainState()
        chains.restore(await storage.run(lambda c: load_chain_heads(c, storage.database)))
        # Every known code's status, in memory (issue 3): registry plus each code's last sale or return.
        loading_from_ms = time.time_ns() // 1_000_000  # the follower reads what is inserted from here on
        code_verdicts = CodeVerdicts(await storage.run(lambda c: load_status_index(c, storage.database)))
        journal = Journal.open(
            settings.journal_dir,
            segment_bytes=settings.journal_segment_bytes,
            budget_bytes=settings.journal_budget_bytes,
        )
        # The journal holds signed events with buyer data in clear (docs/security.md): owner only.
        settings.journal_dir.chmod(0o700)
        ofd_keys = OfdKeys.load_or_create(settings.ofd_key_file)
        # OFD registers' last exchanges: those shipped from ClickHouse, then the journal's (newer) on top.
        exchanges = RegisterExchanges(ofd_keys)
        exchanges.restore(await storage.run(lambda c: load_last_exchanges(c, storage.database)))
        replayed = 0
        for raw in journal.replay():
            record = pb.JournalRecord.FromString(raw)
            if record.HasField("ofd_exchange"):
                exchanges.restore([record.ofd_exchange])
            if record.accepted:
                chains.apply_record(record)
                device_keys.apply_accepted(registry, [record])
                event = decode_event(record) if record.code_verdicts else None
                if event is not None:  # sales and returns not yet shipped move code status too
                    code_verdicts.apply_record(record, event)
                replayed += 1
        log.info("devices: %d, journal records replayed: %d, OFD registers heard from: %d",
                 len(registry), replayed, len(exchanges))
        fiscal = FiscalSigner.load_or_create(settings.fiscal_key_file)

        async def lookup(device_id: str, seqs: list[int]) -> dict[int, StoredEnvelope]:
            return await storage.run(lambda c: load_envelopes(c, storage.database, device_id, seqs))

        async def load_head(device_id: str, seller_tin: str) -> ChainHead | None:
            return await storage.run(lambda c: load_chain_head(c, storage.database, device_id, seller_tin))

        # Embedded storage has one gateway: memory is complete. With a server, other nodes write too.
        takeover = None if settings.embedded else load_head
        pipeline = IngestPipeline(
            settings, registry, chains, fiscal, journal, lookup, load_head=takeover,
            code_verdicts=code_verdicts,
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
        for task in (self._follow_task, self._registry_task):
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

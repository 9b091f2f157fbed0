"""Pre-signed load: devices with keys and chained batches of realistic receipts, made before any clock starts.

Receipts have 5 lines and on average 1.5 marking codes (issue 5's shape); their arithmetic is exact, so
the gateway's validator finds nothing and every receipt is a clean ACCEPTED. Each device keeps the codes it
sells, so the bench can load them into the gateway's registry first (in circulation, owned by the seller:
the usual sale) or leave them out (each one an unknown code). Signing is the costly part (about 45 µs a
signature), so devices are split over `spawn`ed worker processes.
"""

from __future__ import annotations

import multiprocessing
import pickle
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from firmware_sim.catalog import Goods, default_catalog, marking_code
from firmware_sim.receipts import BasketItem, PaymentPlan, fill_receipt
from gateway.codes.registry_file import RegistryRow, normalise_record
from gateway.wire import pb, signing

LINES_PER_RECEIPT = 5
# Codes per receipt drawn from this tuple: mean exactly 1.5.
CODES_PER_RECEIPT = (0, 1, 1, 2, 2, 3)
BACKLOG_DEVICE = "bench-backlog"


@dataclass
class DeviceLoad:
    """One device's identity, public key and its upload, as serialized IngestBatch bodies in send order."""

    device_id: str
    seller_tin: str
    store_id: str
    public_key_pem: str
    batches: list[bytes] = field(default_factory=list)
    receipts: int = 0
    codes: list[str] = field(default_factory=list)  # the marking codes it sells, raw


@dataclass
class Workload:
    """Everything the load generators send; identical for the ceiling, naive and real-gateway phases."""

    devices: list[DeviceLoad]
    backlog: DeviceLoad
    generation_s: float = 0.0

    @property
    def receipts(self) -> int:
        """Receipts in the fleet's batches (the backlog device not counted)."""
        return sum(d.receipts for d in self.devices)

    def registry_chunks(self, rows_per_chunk: int) -> Iterator[list[RegistryRow]]:
        """Every code sold (fleet and backlog) as registry rows: introduced, owned by its seller."""
        devices = (*self.devices, self.backlog)
        sold = ((code, device.seller_tin) for device in devices for code in device.codes)
        return registry_chunks(sold, rows_per_chunk)

    @property
    def codes(self) -> int:
        """Marking codes sold in all batches (fleet and backlog)."""
        return sum(len(d.codes) for d in (*self.devices, self.backlog))

    def save(self, path: Path) -> None:
        """Write to a file the spawned load generators read (pickle: our own data, our own temp dir)."""
        path.write_bytes(pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL))

    @staticmethod
    def load(path: Path) -> Workload:
        """Read a file written by save()."""
        workload = pickle.loads(path.read_bytes())
        assert isinstance(workload, Workload)
        return workload


def registry_chunks(sold: Iterable[tuple[str, str]], rows_per_chunk: int) -> Iterator[list[RegistryRow]]:
    """(code, seller TIN) pairs as registry rows (introduced, owned by that seller), in chunks."""
    chunk: list[RegistryRow] = []
    for code, seller_tin in sold:
        chunk.append(normalise_record({"code": code, "owner_tin": seller_tin}, len(chunk) + 1))
        if len(chunk) == rows_per_chunk:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _receipt_event(
    rng: random.Random, marked: list[Goods], plain: list[Goods], number: int, time_ms: int, sold: list[str]
) -> pb.Event:
    """A receipt; the marking codes on it are appended to sold."""
    codes = rng.choice(CODES_PER_RECEIPT)
    goods = rng.sample(marked, k=codes) + rng.sample(plain, k=LINES_PER_RECEIPT - codes)
    items = [BasketItem(g, 1000, 0, 0, (marking_code(g, rng),) if g.marking_group else ()) for g in goods]
    sold.extend(code for item in items for code in item.codes)
    event = pb.Event(time_ms=time_ms)
    receipt = event.receipt
    receipt.operation = pb.SELL
    receipt.shift_number = 1
    receipt.document_number = number
    receipt.shift_document_number = number
    receipt.cashier = "Bench Cashier"
    lines_total = sum(g.price for g in goods)  # quantity 1000 = one piece, no discounts
    fill_receipt(receipt, items, PaymentPlan(card=lines_total))
    return event


def _make_device(
    device_id: str, seed: int, receipts: int, batch_size: int, start_ms: int
) -> DeviceLoad:
    """One device's chained, signed upload, in batches of batch_size envelopes."""
    rng = random.Random(seed)
    catalog = default_catalog()
    marked = [g for g in catalog if g.marking_group]
    plain = [g for g in catalog if not g.marking_group and not g.weighed]
    key = signing.new_private_key()
    key_id = signing.key_id_of(key.public_key())
    prev = signing.genesis_hash(device_id)
    load = DeviceLoad(device_id, f"{100_000_000_000 + seed % 1000:012d}", f"store-{seed % 97}",
                      signing.public_key_pem(key.public_key()))
    batch = pb.IngestBatch()
    for seq in range(1, receipts + 1):
        event_bytes = _receipt_event(rng, marked, plain, seq, start_ms + seq, load.codes).SerializeToString()
        preimage = signing.event_preimage(device_id, seq, prev, event_bytes)
        batch.envelopes.add(device_id=device_id, seq=seq, prev_hash=prev, event=event_bytes,
                            signature=signing.sign(key, preimage), key_id=key_id)
        prev = signing.envelope_hash(preimage)
        if len(batch.envelopes) == batch_size:
            load.batches.append(batch.SerializeToString())
            batch = pb.IngestBatch()
    if batch.envelopes:
        load.batches.append(batch.SerializeToString())
    load.receipts = receipts
    return load


def _make_devices(jobs: list[tuple[str, int, int, int, int]]) -> list[DeviceLoad]:
    return [_make_device(*job) for job in jobs]


def generate(
    *, devices: int, receipts: int, batch_size: int, backlog_events: int, backlog_batch: int, workers: int
) -> Workload:
    """Sign the whole load (fleet + one backlog device) in `workers` spawned processes."""
    started = time.perf_counter()
    # Times a little in the past: every phase sends the same events, minutes apart, never "in the future".
    start_ms = time.time_ns() // 1_000_000 - 3_600_000
    per_device = max(1, receipts // devices)
    jobs = [(f"bench-{i:04d}", i, per_device, batch_size, start_ms) for i in range(devices)]
    jobs.append((BACKLOG_DEVICE, 10_000, backlog_events, backlog_batch, start_ms))
    # Big jobs first so the workers finish together.
    jobs.sort(key=lambda job: -job[2])
    shares: list[list[tuple[str, int, int, int, int]]] = [[] for _ in range(max(1, workers))]
    for index, job in enumerate(jobs):
        shares[index % len(shares)].append(job)
    context = multiprocessing.get_context("spawn")
    with context.Pool(len(shares)) as pool:
        made = [load for part in pool.map(_make_devices, shares) for load in part]
    by_id = {load.device_id: load for load in made}
    backlog = by_id.pop(BACKLOG_DEVICE)
    fleet = [by_id[f"bench-{i:04d}"] for i in range(devices)]
    return Workload(fleet, backlog, time.perf_counter() - started)

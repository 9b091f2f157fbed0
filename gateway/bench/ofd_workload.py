"""Pre-encoded OFD load: registers with their OFD ID and first token, and each one's TICKET requests in send
order, made before any clock starts.

The receipts have the HTTP bench's shape (5 lines, 1.5 marking codes on average, paid by card), written
the way an OFD 2.0.3 register writes them (firmware_sim.ofd.tickets), so the two doors are driven with
the same work. Only the payload is pre-encoded: the header's TOKEN comes from the previous answer.
"""

from __future__ import annotations

import multiprocessing
import pickle
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from firmware_sim.catalog import default_catalog, marking_code
from firmware_sim.ofd.register import OfdIdentity
from firmware_sim.ofd.tickets import Basket, Style, build_ticket, ofd_datetime
from firmware_sim.receipts import BasketItem, PaymentPlan
from gateway.bench.workload import CODES_PER_RECEIPT, LINES_PER_RECEIPT, registry_chunks
from gateway.codes.registry_file import RegistryRow
from gateway.wire import ofd_pb2


@dataclass
class OfdDeviceLoad:
    """One register: who it is, and its TICKET request payloads in send order."""

    identity: OfdIdentity
    payloads: list[bytes] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)


@dataclass
class OfdWorkload:
    """Everything the OFD load generators send; the same for every phase."""

    devices: list[OfdDeviceLoad]
    generation_s: float = 0.0

    @property
    def receipts(self) -> int:
        """TICKET requests in the whole load."""
        return sum(len(d.payloads) for d in self.devices)

    @property
    def codes(self) -> int:
        """Marking codes sold in the whole load."""
        return sum(len(d.codes) for d in self.devices)

    def registry_chunks(self, rows_per_chunk: int) -> Iterator[list[RegistryRow]]:
        """Every code sold as registry rows: introduced, owned by its seller."""
        sold = ((code, device.identity.seller_tin) for device in self.devices for code in device.codes)
        return registry_chunks(sold, rows_per_chunk)

    def save(self, path: Path) -> None:
        """Write to a file the spawned load generators read (pickle: our own data, our own temp dir)."""
        path.write_bytes(pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL))

    @staticmethod
    def load(path: Path) -> OfdWorkload:
        """Read a file written by save()."""
        workload = pickle.loads(path.read_bytes())
        assert isinstance(workload, OfdWorkload)
        return workload


def bench_identity(index: int, run: int) -> OfdIdentity:
    """Register `index` of a bench run: an OFD ID and token of its own (run keeps reruns apart)."""
    rng = random.Random(f"ofd-bench/{run}/{index}")
    ofd_id = 10_000_000 + (run % 1000) * 10_000 + index
    return OfdIdentity(
        device_id=f"ofd-bench-{run % 1000:03d}-{index:04d}", ofd_id=ofd_id,
        first_token=rng.randrange(1, 2**32),
        kgd_number=f"{600_000_000_000 + ofd_id}", serial_number=f"BENCH{ofd_id}",
        seller_tin=f"{100_000_000_000 + index % 1000:012d}", store_id=f"store-{index % 97}",
    )


def _make_device(index: int, run: int, receipts: int, start_ms: int) -> OfdDeviceLoad:
    rng = random.Random(index)
    catalog = default_catalog()
    marked = [g for g in catalog if g.marking_group]
    plain = [g for g in catalog if not g.marking_group and not g.weighed]
    load = OfdDeviceLoad(bench_identity(index, run))
    style = Style(version=203)
    service = ofd_pb2.ServiceRequest()
    kkm = service.reg_info.kkm
    kkm.fns_kkm_id, kkm.kkm_id = load.identity.kgd_number, str(load.identity.ofd_id)
    for number in range(1, receipts + 1):
        codes = rng.choice(CODES_PER_RECEIPT)
        goods = rng.sample(marked, k=codes) + rng.sample(plain, k=LINES_PER_RECEIPT - codes)
        items = [BasketItem(g, 1000, 0, 0, (marking_code(g, rng),) if g.marking_group else ()) for g in goods]
        load.codes.extend(code for item in items for code in item.codes)
        basket = Basket(items)
        ticket = build_ticket(ofd_pb2.OPERATION_SELL, basket, style, rng, PaymentPlan(card=basket.total))
        ticket.date_time.CopyFrom(ofd_datetime(start_ms + number * 1000))
        ticket.operator.code, ticket.operator.name = 1, "Bench Cashier"
        ticket.fr_shift_number, ticket.shift_document_number = 1, number
        request = ofd_pb2.Request(command=ofd_pb2.COMMAND_TICKET, ticket=ticket, service=service)
        load.payloads.append(request.SerializeToString())
    return load


def _make_devices(jobs: list[tuple[int, int, int, int]]) -> list[OfdDeviceLoad]:
    return [_make_device(*job) for job in jobs]


def generate(*, devices: int, receipts: int, workers: int, run: int) -> OfdWorkload:
    """Encode the whole load in `workers` spawned processes."""
    started = time.perf_counter()
    start_ms = time.time_ns() // 1_000_000 - 3_600_000  # an hour ago: never "in the future"
    per_device = max(1, receipts // devices)
    jobs = [(index, run, per_device, start_ms) for index in range(devices)]
    shares = [jobs[worker::max(1, workers)] for worker in range(max(1, workers))]
    with multiprocessing.get_context("spawn").Pool(len(shares)) as pool:
        made = sorted((load for part in pool.map(_make_devices, shares) for load in part),
                      key=lambda load: load.identity.ofd_id)
    return OfdWorkload(made, time.perf_counter() - started)

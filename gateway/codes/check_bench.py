"""Status-index memory at 10 M codes and /v1/codes/check latency under load (`codes bench-check`)."""

from __future__ import annotations

import asyncio
import gc
import os
import random
import time
from dataclasses import dataclass

import aiohttp
import numpy as np
from cryptography.hazmat.primitives.asymmetric import ec

from firmware_sim.catalog import default_catalog, marking_code
from gateway.codes.parser import validate_code
from gateway.codes.status_index import STATUS_CODE, StatusIndex, cis_key
from gateway.wire import pb, signing

PROTOBUF = "application/x-protobuf"


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class IndexFigures:
    """What an index of `codes` codes costs and how fast it answers."""

    codes: int
    rss_delta_bytes: int
    array_bytes: int
    build_s: float
    lookups_per_s: float

    @property
    def bytes_per_code(self) -> float:
        """RSS growth divided by the number of codes."""
        return self.rss_delta_bytes / max(self.codes, 1)


def sample_codes(count: int, seed: int = 1) -> list[str]:
    """Real-shaped marking codes of the simulator's marked goods."""
    rng = random.Random(seed)
    marked = [g for g in default_catalog() if g.marking_group]
    return [marking_code(rng.choice(marked), rng) for _ in range(count)]


def index_memory(codes: int, probe: int = 100_000) -> IndexFigures:
    """Build an index of `codes` codes (probe of them real cis, the rest random 64-bit keys, as SHA-256
    prefixes are), measure the RSS it adds, then time state() lookups of the real ones."""
    real = [validate_code(code).cis or "" for code in sample_codes(min(probe, codes))]
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    generator = np.random.default_rng(7)
    keys = generator.integers(0, 2**63, codes, dtype=np.uint64) * np.uint64(2)
    keys[: len(real)] = np.fromiter((cis_key(c) for c in real), np.uint64, len(real))
    status = np.full(codes, STATUS_CODE["introduced"], np.uint8)
    owners = [""] + [f"{100000000000 + i}" for i in range(5_000)]
    owner = generator.integers(1, len(owners), codes, dtype=np.uint32)
    expiry = generator.integers(0, 30_000, codes, dtype=np.uint16)
    index = StatusIndex()
    index.load_base(keys, status, owner, expiry, owners)
    del keys, status, owner, expiry
    gc.collect()
    build_s = time.perf_counter() - started
    delta = rss_bytes() - before
    started = time.perf_counter()
    found = sum(1 for cis in real if index.state(cis) is not None)
    lookup_s = time.perf_counter() - started
    assert found == len(real)
    return IndexFigures(codes, delta, index.nbytes(), build_s, len(real) / lookup_s)


@dataclass(frozen=True)
class LatencyFigures:
    """Open-loop latencies (from each request's scheduled time) of /v1/codes/check."""

    sent: int
    ok: int
    errors: int
    rate_target: float
    rate_achieved: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    error_kinds: dict[str, int]


def signed_requests(
    device_id: str, key: ec.EllipticCurvePrivateKey, codes: list[str], count: int
) -> list[bytes]:
    """count serialized CodeCheckRequests of one code each, signed ahead (signing is not measured)."""
    key_id = signing.key_id_of(key.public_key())
    bodies = []
    for i in range(count):
        body = pb.CodeCheckBody(codes=[codes[i % len(codes)]], time_ms=time.time_ns() // 1_000_000,
                                nonce=i.to_bytes(8, "big")).SerializeToString()
        signature = signing.sign(key, signing.code_check_preimage(device_id, body))
        bodies.append(pb.CodeCheckRequest(device_id=device_id, body=body, signature=signature,
                                          key_id=key_id).SerializeToString())
    return bodies


async def check_latency(url: str, device_id: str, bodies: list[bytes], rate: float) -> LatencyFigures:
    """Send the bodies at `rate` a second, open loop; a late answer never delays the next request."""
    latencies: list[float] = []
    errors = 0
    kinds: dict[str, int] = {}
    endpoint = url.rstrip("/") + "/v1/codes/check"
    headers = {"Content-Type": PROTOBUF, "X-Device-Id": device_id}

    async def one(session: aiohttp.ClientSession, body: bytes, due: float) -> None:
        nonlocal errors
        try:
            async with session.post(endpoint, data=body, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    errors += 1
                    kinds[f"HTTP {response.status}"] = kinds.get(f"HTTP {response.status}", 0) + 1
                    return
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            errors += 1
            kinds[type(exc).__name__] = kinds.get(type(exc).__name__, 0) + 1
            return
        latencies.append(time.perf_counter() - due)

    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        tasks = []
        start = time.perf_counter() + 0.2
        for i, body in enumerate(bodies):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(session, body, due)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    ordered = sorted(latencies) or [0.0]

    def pct(share: float) -> float:
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000

    return LatencyFigures(len(bodies), len(latencies), errors, rate, len(bodies) / elapsed,
                          pct(0.5), pct(0.9), pct(0.99), ordered[-1] * 1000, kinds)

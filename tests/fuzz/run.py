"""`make fuzz`: mutate valid batches (structured, re-signed, byte-level) against the real gateway; report."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from gateway.wire import pb, signing
from tests.fuzz.mutations import Case, ChainKey, byte_level, code_check, marking_codes, resigned, structured
from tests.fuzz.oracle import FuzzLedger, check_answer, storage_findings
from tests.reliability.gateway_process import PROTOBUF, GatewayProcess

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REQUEST_TIMEOUT_S = 30.0
PROGRESS_EVERY = 25_000
# Rate limits would answer most fuzz inputs 429 before they reach decoding; they have their own tests.
UNLIMITED = {"TRACEGATE_RATE_DEVICE_PER_S": "1e9", "TRACEGATE_RATE_DEVICE_BURST": "1000000000",
             "TRACEGATE_RATE_REMOTE_PER_S": "1e9", "TRACEGATE_RATE_REMOTE_BURST": "1000000000"}


@dataclass
class FuzzReport:
    """What was tried, what came back, and every broken rule."""

    cases: int = 0
    operators: Counter[str] = field(default_factory=Counter)
    findings: list[str] = field(default_factory=list)
    ledger: FuzzLedger = field(default_factory=FuzzLedger)
    seconds: float = 0.0
    rss_kib: tuple[int, int] = (0, 0)

    def text(self) -> str:
        """A human-readable summary."""
        lines = [f"fuzz: {self.cases} cases in {self.seconds:.0f} s "
                 f"({self.cases / max(self.seconds, 1e-9):.0f}/s), gateway RSS {self.rss_kib[0] // 1024} -> "
                 f"{self.rss_kib[1] // 1024} MiB", "operators tried (top 40):"]
        lines += [f"  {n:>9}  {op}" for op, n in self.operators.most_common(40)]
        lines.append(f"  ({len(self.operators)} distinct operators)")
        lines.append("answers:")
        lines += [f"  {n:>9}  {what}" for what, n in sorted(self.ledger.answers.items(), key=lambda x: -x[1])]
        lines.append(f"findings: {len(self.findings)}")
        lines += [f"  {f}" for f in self.findings[:50]]
        return "\n".join(lines)


def fixture_keys() -> list[ChainKey]:
    """The golden devices (their private keys are in tests/fixtures/devices.json)."""
    devices = json.loads((FIXTURES / "devices.json").read_text())["devices"]
    return [ChainKey(d["device_id"], load_pem_private_key(d["private_key_pem"].encode(), None), d["key_id"])
            for d in devices]


def register(gateway: GatewayProcess, device_id: str, public_key_pem: str) -> None:
    """Register a device (fixtures: as in devices.json)."""
    status, answer = gateway.admin("POST", "/v1/admin/devices", {
        "device_id": device_id, "seller_tin": "080740000019", "store_id": "ALA-101",
        "public_key_pem": public_key_pem})
    if status not in (201, 200):
        raise RuntimeError(f"register {device_id}: {status} {answer}")


def fuzz_keys(gateway: GatewayProcess, workers: int) -> list[ChainKey]:
    """One fresh chain per worker, so re-signed events extend it in order."""
    keys = []
    for i in range(workers):
        private = signing.new_private_key()
        device_id = f"FUZZ-{i:02d}"
        register(gateway, device_id, signing.public_key_pem(private.public_key()))
        keys.append(ChainKey(device_id, private, signing.key_id_of(private.public_key())))
    return keys


def make_case(valid: pb.IngestBatch, valid_body: bytes, key: ChainKey, rng: random.Random,
              codes: list[str]) -> Case:
    """One input: 35 % structured, 30 % byte-level, 20 % re-signed authentic content, 15 % code checks."""
    roll = rng.random()
    if roll < 0.35:
        return structured(valid, rng)
    if roll < 0.65:
        return byte_level(valid_body, rng)
    if roll < 0.85:
        return resigned(valid, key, rng)
    return code_check(codes, key, rng)


async def _worker(session: aiohttp.ClientSession, base_url: str, key: ChainKey, rng: random.Random,
                  valid: pb.IngestBatch, report: FuzzReport, budget: list[int], save: Path | None) -> None:
    valid_body = valid.SerializeToString()
    codes = marking_codes(valid)
    while budget[0] > 0:
        budget[0] -= 1
        case = make_case(valid, valid_body, key, rng, codes)
        report.operators[case.operator] += 1
        report.cases += 1
        if report.cases % PROGRESS_EVERY == 0:
            print(f"fuzz: {report.cases} cases, {len(report.findings)} findings", file=sys.stderr, flush=True)
        try:
            async with session.post(base_url + case.path, data=case.body, headers={"Content-Type": PROTOBUF},
                                    timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)) as resp:
                answer = await resp.read()
                findings, acks = check_answer(case.body, resp.status, answer,
                                              resp.headers.get("Retry-After"), report.ledger, case.path)
        except (aiohttp.ClientError, TimeoutError) as exc:
            findings, acks = [f"no answer ({type(exc).__name__}: {exc})"], []
        if case.chained is not None and acks and acks[0].status == pb.ACCEPTED:
            key.advance(case.chained)
        if findings:
            report.findings += [f"[{case.operator}] {f}" for f in findings]
            if save is not None:
                (save / f"finding-{len(report.findings):05d}.pb").write_bytes(case.body)


def stop_when_told(budget: list[int], seconds: float | None) -> None:
    """Ctrl-C, or `seconds` passing, empties the senders' budget: they stop, and the final checks and the
    report still run on what was tried."""

    def stop_sending() -> None:
        budget[0] = 0

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop_sending)
    if seconds is not None:
        loop.call_later(seconds, stop_sending)


async def fuzz(gateway: GatewayProcess, cases: int, seed: int, workers: int,
               save: Path | None = None, seconds: float | None = None) -> FuzzReport:
    """Send `cases` inputs (or until `seconds` or Ctrl-C) from `workers` senders; check health and storage."""
    report = FuzzReport()
    valid = pb.IngestBatch.FromString((FIXTURES / "valid_batch.pb").read_bytes())
    devices = json.loads((FIXTURES / "devices.json").read_text())["devices"]
    for d in devices:
        register(gateway, d["device_id"], d["public_key_pem"])
    keys = fuzz_keys(gateway, workers)
    rss_before = gateway.rss_kib()
    began = time.monotonic()
    budget = [cases]
    stop_when_told(budget, seconds)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=workers)) as session:
        await asyncio.gather(*(
            _worker(session, gateway.url, key, random.Random(seed * 1000 + i), valid,
                    report, budget, save)
            for i, key in enumerate(keys)))
    report.seconds = time.monotonic() - began
    report.rss_kib = (rss_before, gateway.rss_kib())
    status, _, _ = gateway.request("GET", "/healthz", timeout=10)
    if status != 200 or gateway.process is None or gateway.process.poll() is not None:
        report.findings.append("the gateway is not healthy after the run")
    try:
        gateway.wait_drained(timeout_s=120)
    except AssertionError as exc:  # a poisoned shipper: accepted events would never reach storage
        report.findings.append(f"the journal does not drain after the run: {exc}")
        return report
    report.findings += storage_findings(gateway, report.ledger,
                                        [d["device_id"] for d in devices] + [k.device_id for k in keys])
    return report


def main(argv: list[str] | None = None) -> int:
    """Start a gateway on a temporary data dir, fuzz it, print the report; exit 1 on any finding."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=1_000_000, help="inputs to try (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=8, help="concurrent senders (default 8)")
    parser.add_argument("--save", type=Path, default=None, help="write failing inputs here")
    parser.add_argument("--seconds", type=float, default=None, help="stop sending after this long")
    args = parser.parse_args(argv)
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tracegate-fuzz-") as tmp:
        gateway = GatewayProcess(Path(tmp) / "data", env=dict(UNLIMITED))
        gateway.start()
        try:
            report = asyncio.run(fuzz(gateway, args.cases, args.seed, args.workers, args.save, args.seconds))
        finally:
            gateway.stop()
    print(report.text())
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(main())

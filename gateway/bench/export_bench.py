"""`tracegate export-bench`: how fast `verify` checks a year of a busy register, and what exporting costs.

One register's history (firmware_sim: shifts of 40-80 receipts, 5 % naming a buyer, a key rotation every
50,000 receipts) is signed once and written as the gateway writes an export of it uploaded BATCH
envelopes at a time (the gateway keeps the signatures it verified: the newest of each batch, rotations).
`verify` then runs in a child process pinned to one core, against a ceiling measured in the same run
(read, parse and hash every line: what any verifier must do before checking anything) and with
--every-signature. With --gateway-events,
a real gateway on a fresh directory ingests that many of the events, exports them over HTTP, and the
gateway's resident memory is sampled while it streams: it must not grow with the history.
"""

from __future__ import annotations

import itertools
import json
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.bench.export_history import (
    Life,
    as_stored,
    device_entry,
    new_register,
    working_life,
    write_export,
)
from gateway.bench.procstat import rss_mib
from gateway.bench.servers import ServerProcess, free_port
from gateway.export.writer import ExportSigner
from gateway.wire import pb, signing

BUSY_LIFE = Life(
    shifts=0, receipts_per_shift=(40, 80), rotate_every=50_000, buyer_share=0.05, return_share=0.03
)
DEVICE_ID = "KKM-BENCH-0001"
BATCH = 2000  # envelopes a register uploads at once: the gateway keeps the newest one's signature
_LENGTH = struct.Struct(">I")

# Run in a child pinned to one core: `ceiling` does what any verifier must (read, parse, hash every line).
_CHILD = """
import hashlib, json, os, sys, time
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
from gateway.export.verify import verify_stream
mode, path = sys.argv[1], sys.argv[2]
began, cpu = time.perf_counter(), time.process_time()
if mode == "ceiling":
    digest, events = hashlib.sha256(), 0
    with open(path, "rb") as f:
        for line in f:
            digest.update(line)
            events += json.loads(line).get("record") == "event"
    status = 0
else:
    with open(path, "rb") as f:
        report = verify_stream(f, every_signature=mode == "every-signature")
    events, status = report.events, report.exit_status
elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
# VmHWM, not ru_maxrss: ru_maxrss keeps the parent's peak across fork and exec.
with open("/proc/self/status") as proc:
    peak = next(int(l.split()[1]) for l in proc if l.startswith("VmHWM:")) / 1024
print(json.dumps({"mode": mode, "events": events, "seconds": elapsed, "cpu_seconds": cpu,
                  "peak_rss_mib": peak, "exit": status}))
"""


@dataclass
class Figures:
    """What one run measured."""

    events: int
    file_mib: float
    sign_s: float
    write_s: float
    verify: list[dict[str, Any]] = field(default_factory=list)
    gateway: dict[str, Any] = field(default_factory=dict)


def _history(path: Path, events: int) -> tuple[bytes, float]:
    """Sign the history into path (length-prefixed envelopes); the first public key and the seconds."""
    # The whole history in the past: a gateway refuses events from its future.
    register = new_register(DEVICE_ID, 2026, int(time.time() * 1000) - (events + 2000) * 45_000)
    first_key = signing.public_key_bytes(register.key.public_key())
    began = time.perf_counter()
    with path.open("wb") as out:
        for raw in working_life(register, BUSY_LIFE, until_events=events):
            out.write(_LENGTH.pack(len(raw)) + raw)
    return first_key, time.perf_counter() - began


def _envelopes(path: Path, limit: int = 0) -> Iterator[pb.Envelope]:
    with path.open("rb") as f:
        count = 0
        while (head := f.read(_LENGTH.size)) and (not limit or count < limit):
            count += 1
            yield pb.Envelope.FromString(f.read(_LENGTH.unpack(head)[0]))


def _verify(mode: str, export: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, str(export)], capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout)
    result["events_per_s"] = result["events"] / result["seconds"]
    # On a shared machine the child waits for its core: per CPU-second is what one core does.
    result["events_per_cpu_s"] = result["events"] / result["cpu_seconds"]
    return result


def _post(
    url: str, body: bytes, token: str | None = None, content_type: str = "application/x-protobuf"
) -> bytes:
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", content_type)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=300) as response:
        return bytes(response.read())


def _through_gateway(history: Path, first_key: bytes, events: int, workdir: Path) -> dict[str, Any]:
    """Ingest `events` of the history into a fresh gateway, export them over HTTP, sample its memory."""
    data = workdir / "gateway"
    port = free_port()
    server = ServerProcess.start(
        "gateway",
        ["gateway.cli.main", "serve", "--data", str(data), "--port", str(port), "--log-level", "WARNING"],
        data,
        port,
    )
    try:
        token = (data / "admin.token").read_text().strip()
        pem = signing.public_key_pem(signing.load_public_key_point(first_key))
        body = {
            "device_id": DEVICE_ID,
            "seller_tin": "080740000019",
            "store_id": "ALA-101",
            "public_key_pem": pem,
        }
        _post(f"{server.url}/v1/admin/devices", json.dumps(body).encode(), token, "application/json")
        accepted = 0
        batch: list[pb.Envelope] = []
        for envelope in itertools.chain(_envelopes(history, events), [None]):
            if envelope is not None:
                batch.append(envelope)
            if batch and (envelope is None or len(batch) == BATCH):
                acks = pb.IngestAck.FromString(
                    _post(f"{server.url}/v1/batches", pb.IngestBatch(envelopes=batch).SerializeToString())
                )
                accepted += sum(ack.status == pb.ACCEPTED for ack in acks.acks)
                batch = []
        while True:  # until the journal is shipped
            with urllib.request.urlopen(f"{server.url}/readyz", timeout=30) as response:
                if json.loads(response.read()).get("journal_unshipped_bytes") == 0:
                    break
            time.sleep(1)
        pids = [p.pid for p in server.usage()]
        # A tenth of the history first, then all of it: bounded memory means the same peak for both.
        tenth = _export_sampled(data, pids, workdir / "tenth.jsonl", max(1, accepted // 10))
        whole = _export_sampled(data, pids, workdir / "from-gateway.jsonl", 0)
        return {"accepted": accepted, "tenth": tenth, "whole": whole}
    finally:
        server.stop()


def _export_sampled(data: Path, pids: list[int], out: Path, to_seq: int) -> dict[str, Any]:
    """`tracegate export` through the gateway; its resident memory is sampled every 0.1 s meanwhile."""
    before = sum(rss_mib(pid) for pid in pids)
    peak = [before]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.1):
            peak[0] = max(peak[0], sum(rss_mib(pid) for pid in pids))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    command = [sys.executable, "-m", "gateway.cli.main", "export", "--data", str(data), "--device", DEVICE_ID]
    command += ["--to-seq", str(to_seq)] if to_seq else []
    began = time.perf_counter()
    subprocess.run([*command, "-o", str(out), "--quiet"], check=True)
    seconds = time.perf_counter() - began
    stop.set()
    sampler.join()
    verified = _verify("default", out)
    return {
        "events": verified["events"],
        "export_s": seconds,
        "events_per_s": verified["events"] / seconds,
        "rss_before_mib": before,
        "rss_peak_during_mib": peak[0],
        "verify_exit": verified["exit"],
        "file_mib": out.stat().st_size / 2**20,
    }


def run_export_bench(events: int, workdir: Path, gateway_events: int = 0) -> Figures:
    """Sign, write, verify (ceiling, default, every signature) and, if asked, export through a gateway."""
    history, key_file = workdir / "history.bin", workdir / "first-key.hex"
    if key_file.exists():  # a kept --workdir: the same history again
        first_key, sign_s = bytes.fromhex(key_file.read_text()), 0.0
    else:
        first_key, sign_s = _history(history, events)
        key_file.write_text(first_key.hex())
    export = workdir / "export.jsonl"
    began = time.perf_counter()
    last = 0
    for envelope in _envelopes(history):
        last = envelope.seq
    device = device_entry(DEVICE_ID, first_key, _envelopes(history), 1, last)
    with export.open("wb") as out:
        stored = as_stored(_envelopes(history), BATCH)
        write_export(out.write, [(device, stored)], ExportSigner(signing.new_private_key()))
    figures = Figures(events, export.stat().st_size / 2**20, sign_s, time.perf_counter() - began)
    figures.verify = [_verify(mode, export) for mode in ("ceiling", "default", "every-signature")]
    if gateway_events:
        figures.gateway = _through_gateway(history, first_key, min(gateway_events, events), workdir)
    return figures


def report_text(figures: Figures) -> str:
    """The figures as a person reads them; ratios against the ceiling measured in the same run."""
    ceiling = figures.verify[0]["events_per_cpu_s"]
    lines = [
        f"history: {figures.events:,} events signed in {figures.sign_s:.0f} s; export written in "
        f"{figures.write_s:.0f} s ({figures.file_mib:.0f} MiB)",
        "verify, one core:",
    ]
    for run in figures.verify:
        rate = run["events_per_cpu_s"]
        lines.append(
            f"  {run['mode']:<16} {rate:>9,.0f} events per CPU-second ({run['events_per_s']:,.0f}/s of wall "
            f"time)  {rate / ceiling:5.2f}x ceiling  peak RSS {run['peak_rss_mib']:.0f} MiB  "
            f"exit {run['exit']}"
        )
    if figures.gateway:
        lines.append(f"export through the gateway ({figures.gateway['accepted']:,} events accepted):")
        for name in ("tenth", "whole"):
            g = figures.gateway[name]
            lines.append(
                f"  {name:<6} {g['events']:>9,} events in {g['export_s']:.0f} s "
                f"({g['events_per_s']:,.0f}/s), {g['file_mib']:.0f} MiB; "
                f"gateway RSS {g['rss_before_mib']:.0f} MiB before, "
                f"{g['rss_peak_during_mib']:.0f} MiB at most while streaming; verify exit {g['verify_exit']}"
            )
    return "\n".join(lines)

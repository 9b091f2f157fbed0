"""Fuzzing the OFD front door: mutated frames on fresh connections, each answer checked against the
framing rules, the door probed with a valid request afterwards; with the real gateway also storage.

`python -m tests.fuzz.ofd_run --cases N` runs it against `tracegate serve --ofd-port` (`make fuzz` does);
the CI tests also run it against the front door's own transport with the bench's decode-and-answer handler,
in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from gateway.bench.ofd_ceiling import DecodeAndAnswer
from gateway.observability.prometheus import Registry
from gateway.ofd.framing import (
    APPCODE,
    HEADER,
    HEADER_SIZE,
    KNOWN_VERSIONS,
    FrameError,
    ResultCode,
    decode_response,
    peek_command,
)
from gateway.ofd.server import OfdFrontDoor, OfdMetrics
from gateway.settings import Settings
from tests.fuzz.ofd_mutations import SIZE_LIMIT, OfdCase, OfdKey, Seeds, make_case, seed_requests
from tests.fuzz.run import stop_when_told
from tests.reliability.gateway_process import GatewayProcess, free_port

READ_TIMEOUT_S = 2.0  # the door's, in fuzz runs: a frame that never completes costs this long
ANSWER_WAIT_S = 15.0
OFD_ENV = {"TRACEGATE_OFD_READ_TIMEOUT_S": str(READ_TIMEOUT_S),
           "TRACEGATE_OFD_MAX_FRAME_BYTES": str(SIZE_LIMIT),
           "TRACEGATE_OFD_RATE_REMOTE_PER_S": "1e9", "TRACEGATE_OFD_RATE_REMOTE_BURST": "1000000000"}


@dataclass
class OfdFuzzReport:
    """What was tried, what came back, and every broken rule."""

    cases: int = 0
    operators: Counter[str] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)
    findings: list[str] = field(default_factory=list)
    ok_documents: Counter[int] = field(default_factory=Counter)  # OFD id -> documents answered OK
    # (OFD id, ticket number) of receipts answered OK: exactly these may become receipts rows (a resend
    # answered from the register's last exchange brings the same number again).
    ok_tickets: set[tuple[int, str]] = field(default_factory=set)
    seconds: float = 0.0

    def text(self) -> str:
        """A human-readable summary."""
        lines = [f"ofd fuzz: {self.cases} cases in {self.seconds:.0f} s", "operators tried:"]
        lines += [f"  {n:>8}  {op}" for op, n in self.operators.most_common(30)]
        lines += ["answers:", *(f"  {n:>8}  {what}" for what, n in self.answers.most_common())]
        lines += [f"findings: {len(self.findings)}", *(f"  {f}" for f in self.findings[:50])]
        return "\n".join(lines)


@dataclass(frozen=True)
class Expected:
    """An answer the door owes: to which ID and REQNUM, PROTOCOL_ERROR or the handler's."""

    device_id: int
    reqnum: int
    protocol_error: bool
    command: int | None


def expected_answers(data: bytes, eof: bool) -> list[Expected]:
    """What the door must answer to these bytes, by the framing rules (design document §1)."""
    owed: list[Expected] = []
    pos = 0
    while len(data) - pos >= HEADER_SIZE:
        appcode, version, size, device_id, _token, reqnum = HEADER.unpack_from(data, pos)
        if appcode != APPCODE:
            break  # not OFD: the connection is cut, nothing answered
        if size < HEADER_SIZE or size > SIZE_LIMIT or version not in KNOWN_VERSIONS:
            owed.append(Expected(device_id, reqnum, True, None))
            break
        if len(data) - pos < size:
            if eof:
                owed.append(Expected(device_id, reqnum, True, None))  # truncated
            break
        owed.append(Expected(device_id, reqnum, False, peek_command(data[pos + HEADER_SIZE : pos + size])))
        pos += size
    return owed


def check_answers(case: OfdCase, answers: list[bytes]) -> list[str]:
    """Findings about the answers to one case."""
    owed = expected_answers(case.data, case.eof)
    if len(answers) != len(owed):
        return [f"{len(owed)} answers owed, {len(answers)} came"]
    findings = []
    for expected, answer in zip(owed, answers, strict=True):
        appcode, _version, size, device_id, _token, reqnum = HEADER.unpack_from(answer)
        if appcode != APPCODE or size != len(answer):
            findings.append(f"answer with APPCODE {appcode:#x}, SIZE {size} for {len(answer)} bytes")
            continue
        if (device_id, reqnum) != (expected.device_id, expected.reqnum):
            findings.append(f"answer to ID {device_id} REQNUM {reqnum}, owed to {expected}")
        try:
            decoded = decode_response(answer[HEADER_SIZE:])
        except FrameError as error:
            findings.append(f"an answer that is not a Response: {error}")
            continue
        code = decoded.message.result.result_code
        # A command number CommandType lacks is echoed as sent, so it reads as "command missing".
        echoed_unknown = decoded.missing == ("command",) and decoded.command is not None
        if not (decoded.complete or echoed_unknown) or code not in ResultCode.__members__.values():
            findings.append(f"incomplete answer or unknown result code {code}: {decoded.missing}")
        if code == ResultCode.UNKNOWN_ERROR:  # the door's and the handlers' answer to an exception of theirs
            findings.append(f"the handler failed (255): {decoded.message.result.result_text}")
        if expected.protocol_error and code != ResultCode.PROTOCOL_ERROR:
            findings.append(f"a frame the door cannot use answered {code}, not PROTOCOL_ERROR")
        if expected.command is not None and decoded.command != expected.command:
            findings.append(f"command {expected.command} answered as {decoded.command}")
    return findings


async def send(address: tuple[str, int], case: OfdCase) -> list[bytes]:
    """The case's bytes on a fresh connection; every answer frame until the door closes or goes quiet."""
    reader, writer = await asyncio.open_connection(*address)
    answers: list[bytes] = []
    try:
        writer.write(case.data)
        if case.eof:
            writer.write_eof()
        owed = len(expected_answers(case.data, case.eof))
        async with asyncio.timeout(ANSWER_WAIT_S):
            while len(answers) < owed or case.eof:
                try:
                    head = await reader.readexactly(HEADER_SIZE)
                    size = HEADER.unpack(head)[2]
                    answers.append(head + await reader.readexactly(max(0, size - HEADER_SIZE)))
                except (asyncio.IncompleteReadError, ConnectionResetError):
                    break
    finally:
        writer.close()
    return answers


def _note(report: OfdFuzzReport, case: OfdCase, answers: list[bytes]) -> None:
    for answer in answers:
        try:
            response = decode_response(answer[HEADER_SIZE:]).message
        except FrameError:
            continue
        code = response.result.result_code
        report.answers[ResultCode(code).name if code in ResultCode.__members__.values() else str(code)] += 1
        mine = case.key is not None and answer[8:12] == case.key.ofd_id.to_bytes(4, "little")
        if code == ResultCode.OK and case.key is not None and mine:
            case.key.token = int.from_bytes(answer[12:16], "little")
            if response.command in (1, 2, 6):  # TICKET, CLOSE_SHIFT, MONEY_PLACEMENT: documents
                report.ok_documents[case.key.ofd_id] += 1
            if response.command == 1:
                report.ok_tickets.add((case.key.ofd_id, response.ticket.ticket_number))
    if not answers:
        report.answers["(closed, no answer)"] += 1


async def _worker(address: tuple[str, int], seeds: Seeds, key: OfdKey, rng: random.Random,
                  report: OfdFuzzReport, budget: list[int], save: Path | None) -> None:
    while budget[0] > 0:
        budget[0] -= 1
        case = make_case(seeds, key, rng)
        report.cases += 1
        report.operators[case.operator] += 1
        try:
            answers = await send(address, case)
            findings = check_answers(case, answers)
        except (OSError, TimeoutError) as exc:
            answers, findings = [], [f"no answer ({type(exc).__name__}: {exc})"]
        report.findings += [f"[{case.operator}] {f}" for f in findings]
        if findings and save is not None:
            (save / f"ofd-finding-{len(report.findings):05d}.bin").write_bytes(case.data)
        _note(report, case, answers)


async def fuzz_ofd(address: tuple[str, int], keys: list[OfdKey], cases: int, seed: int,
                   save: Path | None = None, seconds: float | None = None) -> OfdFuzzReport:
    """Send `cases` inputs (or until `seconds` or Ctrl-C) from one worker per key, then check the door still
    answers a valid request."""
    report = OfdFuzzReport()
    seeds = seed_requests()
    began = time.monotonic()
    budget = [cases]
    stop_when_told(budget, seconds)
    await asyncio.gather(*(_worker(address, seeds, key, random.Random(seed * 1000 + i), report, budget, save)
                           for i, key in enumerate(keys)))
    asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)
    report.seconds = time.monotonic() - began
    probe = OfdKey(keys[0].ofd_id, keys[0].token, keys[0].reqnum)
    payload = seeds.requests[0].SerializeToString()  # INFO: answered by any OFD, token kept
    answers = await send(address, OfdCase(probe.header(payload) + payload, "probe"))
    if len(answers) != 1:
        report.findings.append("the door does not answer a valid request after the run")
    return report


@asynccontextmanager
async def transport_door() -> AsyncIterator[tuple[str, int]]:
    """The front door's own transport with the bench's decode-and-answer handler, in this process."""
    settings = dataclasses.replace(Settings(host="127.0.0.1"), ofd_read_timeout_s=READ_TIMEOUT_S,
                                   ofd_max_frame_bytes=SIZE_LIMIT, ofd_rate_remote_per_s=0)
    door = OfdFrontDoor(settings, DecodeAndAnswer(), OfdMetrics(Registry()))
    await door.start()
    try:
        yield door.addresses[0]
    finally:
        await door.stop()


def gateway_with_door(data: Path) -> GatewayProcess:
    """`tracegate serve --ofd-port` on a fresh data directory, with the fuzz limits."""
    return GatewayProcess(data, env=dict(OFD_ENV), serve_args=("--ofd-port", str(free_port())))


def ofd_address(gateway: GatewayProcess) -> tuple[str, int] | None:
    """Where the gateway's OFD door listens (gateway.json); None if it opened none."""
    try:
        host, _, port = json.loads((gateway.data / "gateway.json").read_text())["ofd"][0].rpartition(":")
        return host, int(port)
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None


def register_keys(gateway: GatewayProcess, count: int, seed: int) -> list[OfdKey]:
    """OFD registers registered through the admin API, one per fuzz worker."""
    keys = []
    for index in range(count):
        rng = random.Random(f"ofd-fuzz/{seed}/{index}")
        key = OfdKey(rng.randrange(100_000, 2**31), rng.randrange(1, 2**32))
        status, answer = gateway.admin("POST", "/v1/admin/devices", {
            "device_id": f"OFD-FUZZ-{index:02d}", "protocol": "ofd", "ofd_id": key.ofd_id,
            "ofd_token": key.token, "kgd_number": f"{600_000_000_000 + index}", "seller_tin": "080740000019",
            "store_id": "ALA-101"})
        if status not in (200, 201):
            raise RuntimeError(f"registering OFD-FUZZ-{index:02d}: {status} {answer}")
        keys.append(key)
    return keys


def stored_findings(gateway: GatewayProcess, report: OfdFuzzReport) -> list[str]:
    """After a run against the gateway: it is healthy, its journal drains, and `receipts` holds one row for
    each receipt answered OK and nothing from refused input."""
    findings = []
    status, _, _ = gateway.request("GET", "/healthz", timeout=10)
    if status != 200 or gateway.process is None or gateway.process.poll() is not None:
        findings.append("the gateway is not healthy after the run")
    try:
        gateway.wait_drained(timeout_s=120)
    except AssertionError as exc:  # a poisoned shipper: accepted documents would never reach storage
        return [*findings, f"the journal does not drain after the run: {exc}"]
    rows, signs = gateway.sql("SELECT count(), uniqExact(fiscal_sign) FROM tracegate.receipts "
                              "WHERE device_id LIKE 'OFD-FUZZ-%'")[0]
    if int(rows) != len(report.ok_tickets) or int(signs) != int(rows):
        findings.append(f"receipts holds {rows} rows ({signs} fiscal numbers) for {len(report.ok_tickets)} "
                        "receipts answered OK")
    return findings


def main(argv: list[str] | None = None) -> int:
    """Fuzz the gateway's OFD door; print the report; exit 1 on findings."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=1_000_000, help="inputs to try (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=8, help="concurrent senders (default 8)")
    parser.add_argument("--save", type=Path, default=None, help="write the bytes of failing inputs here")
    parser.add_argument("--seconds", type=float, default=None, help="stop sending after this long")
    args = parser.parse_args(argv)
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tracegate-ofd-fuzz-") as tmp:
        gateway = gateway_with_door(Path(tmp) / "data")
        gateway.start()
        try:
            address = ofd_address(gateway)
            if address is None:
                print(f"the gateway opened no OFD front door: {gateway.log_tail()}", file=sys.stderr)
                return 1
            keys = register_keys(gateway, args.workers, args.seed)
            report = asyncio.run(fuzz_ofd(address, keys, args.cases, args.seed, args.save, args.seconds))
            report.findings += stored_findings(gateway, report)
        finally:
            gateway.stop()
    print(report.text())
    return 1 if report.findings else 0


async def _fuzz_transport(workers: int, cases: int, seed: int) -> OfdFuzzReport:
    async with transport_door() as address:
        keys = [OfdKey(1000 + i, 7 + i) for i in range(workers)]
        return await fuzz_ofd(address, keys, cases, seed)


if __name__ == "__main__":
    sys.exit(main())

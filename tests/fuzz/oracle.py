"""What every answer to hostile input must look like, and the ledger of what the gateway accepted."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError

from gateway import errors
from gateway.wire import pb, signing
from tests.reliability.gateway_process import GatewayProcess

DOCUMENTED = {e.code for e in errors.all_codes()}
_STATUSES = {pb.ACCEPTED: "ACCEPTED", pb.DUPLICATE: "DUPLICATE", pb.REJECTED: "REJECTED"}


def envelope_hash(envelope: pb.Envelope) -> str:
    """Hex hash of an envelope as the gateway computes it."""
    preimage = signing.event_preimage(envelope.device_id, envelope.seq, envelope.prev_hash, envelope.event)
    return signing.envelope_hash(preimage).hex()


@dataclass
class FuzzLedger:
    """Accepted envelopes by (device, seq) with their hash; answers counted by status / error code."""

    accepted: dict[tuple[str, int], str] = field(default_factory=dict)
    answers: dict[str, int] = field(default_factory=dict)

    def count(self, what: str) -> None:
        """Count one answer kind."""
        self.answers[what] = self.answers.get(what, 0) + 1


def check_answer(body: bytes, status: int, answer: bytes, retry_after: str | None,
                 ledger: FuzzLedger, path: str = "/v1/batches") -> tuple[list[str], list[pb.EventAck]]:
    """Findings (broken rules) about one answer, and its acks when it was a 200."""
    if status == 200 and path == "/v1/codes/check":
        ledger.count("200 code check")
        try:
            verdicts = pb.CodeCheckResponse.FromString(answer).verdicts
            asked = pb.CodeCheckBody.FromString(pb.CodeCheckRequest.FromString(body).body).codes
        except DecodeError as exc:
            return [f"code check: 200 with an unreadable answer or request: {exc}"], []
        return ([] if len(verdicts) == len(asked) else [f"{len(asked)} codes, {len(verdicts)} verdicts"]), []
    if status == 200:
        try:
            acks = list(pb.IngestAck.FromString(answer).acks)
            sent = list(pb.IngestBatch.FromString(body).envelopes)
        except DecodeError as exc:
            return [f"200 with an unreadable ack or an unparsable request accepted: {exc}"], []
        findings = [] if len(acks) == len(sent) else [f"{len(sent)} envelopes but {len(acks)} acks"]
        for envelope, ack in zip(sent, acks, strict=False):
            name = _STATUSES.get(ack.status, "UNSPECIFIED")
            ledger.count(f"200 {name} {ack.error_code}".strip())
            if name == "UNSPECIFIED":
                findings.append(f"ack without a status: {ack}")
            elif name == "REJECTED" and ack.error_code not in DOCUMENTED:
                findings.append(f"undocumented error code in an ack: {ack.error_code!r}")
            elif name == "ACCEPTED":
                key = (envelope.device_id, envelope.seq)
                if not ack.fiscal_sign:
                    findings.append(f"ACCEPTED without a fiscal sign: {key}")
                previous = ledger.accepted.setdefault(key, envelope_hash(envelope))
                if previous != envelope_hash(envelope):
                    findings.append(f"two different envelopes ACCEPTED at {key}")
        return findings, acks
    try:
        error = json.loads(answer)
        code = error["error"]
        assert set(error) == {"error", "detail", "retryable"}
    except (ValueError, KeyError, TypeError, AssertionError):
        return [f"HTTP {status} without the JSON error body: {answer[:200]!r}"], []
    ledger.count(f"{status} {code}")
    findings = []
    if status >= 500:
        findings.append(f"HTTP {status} ({code}) for a hostile input")
    if code not in DOCUMENTED or errors.lookup(code).http_status != status:
        findings.append(f"HTTP {status} with undocumented or mismatched code {code!r}")
    if status == 503 and not retry_after:
        findings.append("503 without Retry-After")
    return findings, []


def storage_findings(gateway: GatewayProcess, ledger: FuzzLedger, devices: list[str]) -> list[str]:
    """Every stored event of the fuzzed devices is exactly one accepted envelope, byte for byte."""
    quoted = ",".join(f"'{d}'" for d in devices)
    stored: dict[tuple[str, int], list[str]] = {}
    for device_id, pairs in gateway.sql(
        "SELECT device_id, groupArray((seq, lower(hex(envelope_hash)))) FROM tracegate.events "
        f"WHERE device_id IN ({quoted}) GROUP BY device_id"
    ):
        for seq, digest in pairs:
            stored.setdefault((device_id, int(seq)), []).append(digest)
    findings = []
    doubled = [k for k, v in stored.items() if len(v) > 1]
    foreign = [k for k, v in stored.items() if ledger.accepted.get(k) not in v]
    missing = [k for k in ledger.accepted if k not in stored]
    if doubled:
        findings.append(f"{len(doubled)} events stored twice, e.g. {doubled[:3]}")
    if foreign:
        findings.append(f"{len(foreign)} stored events were never ACCEPTED as sent, e.g. {foreign[:3]}")
    if missing:
        findings.append(f"{len(missing)} ACCEPTED events not stored, e.g. {missing[:3]}")
    return findings

"""The gateway under attack: a real `tracegate serve` on a temporary directory, and what an attacker (or the
operator checking afterwards) can do with it."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.wire import pb, signing
from tests.e2e.chain_builder import ChainedRegister, sale
from tests.reliability.gateway_process import PROTOBUF, GatewayProcess

# The attack gateway: small batches leave the journal slowly (so a receipt is still unshipped when an
# attack needs it to be), and no per-address limit (an attacker has many addresses).
ATTACK_ENV = {"TRACEGATE_SHIPPER_INTERVAL_S": "1.5", "TRACEGATE_RATE_REMOTE_PER_S": "0"}
SELLER_TIN, OTHER_TIN = "123456789012", "210987654321"


@dataclass
class Target:
    """A running gateway and the attacker's tools against it."""

    gateway: GatewayProcess
    tokens: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, data: Path, code: Path | None = None) -> Target:
        """Start a gateway on data (from the source tree code, or this one)."""
        gateway = GatewayProcess(data, env=dict(ATTACK_ENV), code=code)
        gateway.start()
        return cls(gateway)

    def stop(self) -> None:
        """Stop the gateway."""
        self.gateway.stop()

    def register(self, device_id: str, tin: str = SELLER_TIN, store: str = "store-1") -> ChainedRegister:
        """Register a device as the operator would; its register, ready to sign."""
        register = ChainedRegister(device_id)
        self.add_device(device_id, register.key, tin, store)
        return register

    def add_device(self, device_id: str, key: ec.EllipticCurvePrivateKey, tin: str = SELLER_TIN,
                   store: str = "store-1") -> int:
        """POST /v1/admin/devices; the status."""
        status, _ = self.gateway.admin("POST", "/v1/admin/devices", {
            "device_id": device_id, "seller_tin": tin, "store_id": store,
            "public_key_pem": signing.public_key_pem(key.public_key()),
        })
        return status

    def token(self, scope: str, tin: str = "") -> str:
        """A bearer token of this scope (issued once per scope and TIN)."""
        key = f"{scope}:{tin}"
        if key not in self.tokens:
            status, answer = self.gateway.admin(
                "POST", "/v1/admin/tokens", {"scope": scope, "seller_tin": tin} if tin else {"scope": scope}
            )
            assert status == 201, answer
            self.tokens[key] = str(answer["token"])
        return self.tokens[key]

    def call(self, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """One HTTP request with any headers; any status is returned."""
        request = urllib.request.Request(self.gateway.url + path, data=body, method=method)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def ingest(self, envelopes: list[pb.Envelope]) -> list[pb.EventAck]:
        """POST /v1/batches; the acks."""
        return list(self.gateway.ingest(envelopes).acks)

    def sql(self, query: str) -> list[list[Any]]:
        """Rows of a read-only query (as the operator)."""
        return self.gateway.sql(query)

    def count(self, query: str) -> int:
        """The one number a count query answers."""
        return int(self.sql(query)[0][0])

    def wait_for(self, query: str, at_least: int, timeout_s: float = 30.0) -> int:
        """Poll a count query until it reaches at_least (or the time is up); the last count."""
        deadline = time.monotonic() + timeout_s
        while True:
            count = self.count(query)
            if count >= at_least or time.monotonic() > deadline:
                return count
            time.sleep(0.3)

    def journal_bytes(self) -> bytes:
        """Everything the journal directory holds on disk (segments and set-aside records)."""
        return b"".join(p.read_bytes() for p in (self.gateway.data / "journal").rglob("*") if p.is_file())

    def flood(self, path: str, headers: list[dict[str, str]], concurrency: int = 16) -> dict[int, int]:
        """GET path once per headers (in parallel, keep-alive): how many answers had each status."""
        return asyncio.run(_flood(self.gateway.url + path, headers, concurrency))


async def _flood(url: str, headers: list[dict[str, str]], concurrency: int) -> dict[int, int]:
    statuses: dict[int, int] = {}
    queue = list(reversed(headers))
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            while queue:
                async with session.get(url, headers=queue.pop()) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


def buyer_sale(total: int, phone: str, *, consent: bool = True) -> pb.Event:
    """A sale naming a buyer by phone (with a consent, or none)."""
    event = sale(total)
    event.receipt.buyer.CopyFrom(pb.BuyerContacts(
        phone=phone, consent_purpose="e-receipt" if consent else "",
        consent_expires_ms=event.time_ms + 86_400_000 if consent else 0,
    ))
    return event


def sign_bytes(register: ChainedRegister, event_bytes: bytes) -> pb.Envelope:
    """The register's next envelope over raw event bytes (an odd shape a plain Event cannot make)."""
    seq = register.seq + 1
    preimage = signing.event_preimage(register.device_id, seq, register.head, event_bytes)
    envelope = pb.Envelope(device_id=register.device_id, seq=seq, prev_hash=register.head, event=event_bytes,
                           signature=signing.sign(register.key, preimage), key_id=register.key_id)
    register.seq, register.head = seq, signing.envelope_hash(preimage)
    return envelope


def statuses(acks: list[pb.EventAck]) -> list[str]:
    """ACCEPTED / DUPLICATE, or the error code of a refusal."""
    return [ack.error_code or pb.AckStatus.Name(ack.status) for ack in acks]


def json_of(body: bytes) -> Any:
    """A JSON answer, or the raw text when it is not JSON."""
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


__all__ = ["PROTOBUF", "Target"]

"""A register driven directly by a scenario (no simulator): registered, chained batches, acks logged."""

from __future__ import annotations

import time

from gateway.wire import pb
from tests.e2e.chain_builder import ChainedRegister, sale
from tests.reliability.gateway_process import GatewayProcess
from tests.reliability.ledger import AckLedger

STATUS = {pb.ACCEPTED: "ACCEPTED", pb.DUPLICATE: "DUPLICATE", pb.REJECTED: "REJECTED"}


def register_device(gateway: GatewayProcess, device_id: str) -> ChainedRegister:
    """A fresh register whose key is registered with the gateway."""
    register = ChainedRegister(device_id)
    status, answer = gateway.admin("POST", "/v1/admin/devices", {
        "device_id": device_id, "seller_tin": "080740000019", "store_id": "ALA-900",
        "public_key_pem": register.public_key_pem,
    })
    if status != 201:
        raise RuntimeError(f"registering {device_id}: {status} {answer}")
    return register


def signed_sales(register: ChainedRegister, count: int) -> list[pb.Envelope]:
    """The register's next `count` sales, chained and signed."""
    now = int(time.time() * 1000)
    return [register.envelope(sale(1000 + i, time_ms=now)) for i in range(count)]


def post_and_log(gateway: GatewayProcess, envelopes: list[pb.Envelope], ledger: AckLedger) -> pb.IngestAck:
    """POST a batch that must be answered 200, and log it and its acks."""
    keep_signed(ledger, envelopes)
    status, _, body = gateway.post_batch(envelopes)
    if status != 200:
        raise AssertionError(f"batch answered {status}: {body[:300]!r}")
    return log_acks(body, ledger)


def log_acks(body: bytes, ledger: AckLedger) -> pb.IngestAck:
    """Parse a 200 answer and log every per-event status."""
    ack = pb.IngestAck.FromString(body)
    for a in ack.acks:
        ledger.add(a.device_id, a.seq, STATUS.get(a.status, "UNSPECIFIED"), a.fiscal_sign, a.error_code)
    return ack


def keep_signed(ledger: AckLedger, envelopes: list[pb.Envelope]) -> None:
    """Remember what was sent, to judge every table against it (tables.py)."""
    for envelope in envelopes:
        ledger.signed[(envelope.device_id, envelope.seq)] = envelope

"""One real gateway for the analyst tests: simulated fleet, golden offline backlogs, a forged bad Z-report."""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from firmware_sim.fleet import SELLER_TINS
from gateway.wire import pb
from tests.e2e.chain_builder import ChainedRegister, sale
from tests.e2e.conftest import tracegate
from tests.reliability.gateway_process import GatewayProcess

FIXTURES = Path(__file__).parent.parent / "fixtures"
GOLDEN_TIN = "080740000019"
GOLDEN_DAY = "2026-01-15"
FORGED_DEVICE = "forged-z-0001"


@dataclass
class Loaded:
    """The running gateway with data in it, and tokens of each kind."""

    gw: GatewayProcess
    analyst: str
    retailer_a: str  # bound to GOLDEN_TIN (SELLER_TINS[0])
    retailer_b: str  # bound to SELLER_TINS[1]
    tin_b: str
    forged_day: str

    def get(self, path: str, token: str | None, **params: Any) -> tuple[int, Any]:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        status, headers, body = self.gw.request("GET", path + ("?" + query if query else ""), token=token)
        if "json" in headers.get("Content-Type", ""):
            return status, json.loads(body)
        return status, body.decode()

    def post(self, path: str, token: str | None, body: bytes, **params: Any) -> tuple[int, Any]:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        status, headers, raw = self.gw.request("POST", f"{path}?{query}", body, "text/csv", token)
        return status, json.loads(raw) if "json" in headers.get("Content-Type", "") else raw.decode()


def _register_golden(gw: GatewayProcess) -> int:
    devices = json.loads((FIXTURES / "devices.json").read_text())["devices"]
    for d in devices:
        status, answer = gw.admin(
            "POST",
            "/v1/admin/devices",
            {k: d[k] for k in ("device_id", "seller_tin", "store_id", "public_key_pem")},
        )
        assert status in (200, 201), answer
    accepted = 0
    for name in ("valid_batch.pb", "receipt_sum_mismatch.pb"):
        batch = pb.IngestBatch.FromString((FIXTURES / name).read_bytes())
        ack = gw.ingest(list(batch.envelopes))
        accepted += sum(1 for a in ack.acks if a.status == pb.ACCEPTED)
    return accepted


def _forged_shift(gw: GatewayProcess, tin: str) -> tuple[int, str]:
    """One sale of 15.00 and a Z-report claiming two sales of 30.00: the shift does not add up."""
    register = ChainedRegister(FORGED_DEVICE)
    status, answer = gw.admin(
        "POST",
        "/v1/admin/devices",
        {
            "device_id": FORGED_DEVICE,
            "seller_tin": tin,
            "store_id": "AST-900",
            "public_key_pem": register.public_key_pem,
        },
    )
    assert status == 201, answer
    now = int(time.time() * 1000)
    z = pb.Event(
        time_ms=now,
        shift_close=pb.ShiftClose(
            shift_number=1,
            receipt_count=2,
            first_document_number=1,
            last_document_number=2,
            operations=[
                pb.OperationTotals(
                    operation=pb.SELL, count=2, sum=3000, payments=[pb.Payment(type=pb.CASH, sum=3000)]
                )
            ],
        ),
    )
    ack = gw.ingest([register.envelope(sale(1500, time_ms=now - 1000)), register.envelope(z)])
    assert [a.status for a in ack.acks] == [pb.ACCEPTED, pb.ACCEPTED], ack
    return 2, time.strftime("%Y-%m-%d", time.gmtime(now / 1000))


def issue(gw: GatewayProcess, *args: str) -> str:
    """Issue a token with the CLI (through the running gateway) and return it."""
    out = tracegate("tokens", "issue", "--data", str(gw.data), *args, "--json")
    return str(json.loads(out.stdout)["token"])


@pytest.fixture(scope="session")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    data = tmp_path_factory.mktemp("analyst") / "data"
    gw = GatewayProcess(data)
    gw.start()
    try:
        sim = tracegate(
            "sim",
            "--gateway",
            gw.url,
            "--data",
            str(data),
            "--register",
            "--devices",
            "3",
            "--duration",
            "3",
            "--rate",
            "3",
            "--drain",
            "10",
            "--seed",
            "7",
            "--json",
        )
        accepted = json.loads(sim.stdout.strip().splitlines()[-1])["by_status"]["ACCEPTED"]
        accepted += _register_golden(gw)
        forged, forged_day = _forged_shift(gw, SELLER_TINS[1])
        gw.wait_shipped(accepted + forged)
        yield Loaded(
            gw,
            issue(gw, "--scope", "analyst", "--label", "tests"),
            issue(gw, "--scope", "retailer", "--tin", GOLDEN_TIN),
            issue(gw, "--scope", "retailer", "--tin", SELLER_TINS[1]),
            SELLER_TINS[1],
            forged_day,
        )
    finally:
        gw.stop()

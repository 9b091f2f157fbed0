"""One real gateway for the analyst tests: simulated fleet, golden offline backlogs, a forged bad Z-report."""

from __future__ import annotations

import json
import random
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from firmware_sim.catalog import default_catalog, marking_code
from firmware_sim.fleet import SELLER_TINS
from gateway.codes.parser import validate_code
from gateway.query.local_time import local_day
from gateway.wire import pb, signing
from tests.analyst.browser import Browser
from tests.e2e.chain_builder import ChainedRegister, sale
from tests.e2e.conftest import tracegate
from tests.reliability.gateway_process import GatewayProcess

FIXTURES = Path(__file__).parent.parent / "fixtures"
GOLDEN_TIN = "080740000019"
GOLDEN_DAY = "2026-01-15"
FORGED_DEVICE = "forged-z-0001"
# Seller B sells a code it owns, then seller A (GOLDEN_TIN) sells the same code: a double sale in another
# store by a seller who does not own it, one incident with three facets in A's queue that names B.
B_DEVICE, B_STORE = "iso-b-0001", "B-STORE-7"
A_DEVICE, A_STORE = "iso-a-0001", "A-STORE-1"
EXPIRED_ON = "2025-03-01"


@dataclass
class Loaded:
    """The running gateway with data in it, and tokens of each kind."""

    gw: GatewayProcess
    analyst: str
    retailer_a: str  # bound to GOLDEN_TIN (SELLER_TINS[0])
    retailer_b: str  # bound to SELLER_TINS[1]
    tin_b: str
    forged_day: str
    double_sold: str  # the code B sold and A sold again (cis)
    owned_by_b: str  # a code of B's that A never handled (cis)

    @property
    def b_only_codes(self) -> list[str]:
        """Marking codes only seller B sold (from the simulated fleet)."""
        rows = self.gw.sql(
            "SELECT any(raw_code) FROM tracegate.code_events WHERE kind = 'sale' GROUP BY cis"
            f" HAVING groupUniqArray(seller_tin) = ['{self.tin_b}'] ORDER BY cis LIMIT 3"
        )
        return [str(r[0]) for r in rows]

    @property
    def b_fiscal_sign(self) -> str:
        """The fiscal sign of one of seller B's receipts."""
        sql = f"SELECT fiscal_sign FROM tracegate.receipts WHERE seller_tin = '{self.tin_b}' LIMIT 1"
        return str(self.gw.sql(sql)[0][0])

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


def registered(gw: GatewayProcess, device_id: str, tin: str, store: str) -> ChainedRegister:
    """A new register of seller tin at store, registered through the admin API; its chain to sign with."""
    register = ChainedRegister(device_id)
    status, answer = gw.admin(
        "POST", "/v1/admin/devices",
        {"device_id": device_id, "seller_tin": tin, "store_id": store,
         "public_key_pem": register.public_key_pem},
    )
    assert status == 201, answer
    return register


REFUSING_DEVICE = "refuse-a-0001"  # seller A's register with refusals it signed and forged ones in its name
# What REFUSING_DEVICE's refusals are: signed by it and refused by its chain (its record names seller A) ...
REFUSED_SIGNED = {"seq_gap": 11, "prev_hash_mismatch": 1, "chain_fork": 1}  # 13: two pages of the page's list
# ... and sent under its name by someone without its key (one record a request and error; no seller named).
REFUSED_FORGED = {"bad_signature": 1, "unknown_key": 1}
SILENT_DEVICE = "refuse-a-0002"  # seller A's register whose only upload was refused: no receipts, no reports


def refusing_register(gw: GatewayProcess) -> str:
    """Seller A's register that sold once, then had events refused: signed ones and forged ones; and
    SILENT_DEVICE, refused from its first upload on (made once)."""
    if gw.sql(f"SELECT count() FROM tracegate.events WHERE device_id = '{REFUSING_DEVICE}'")[0][0]:
        return REFUSING_DEVICE
    register = registered(gw, REFUSING_DEVICE, GOLDEN_TIN, A_STORE)
    now = int(time.time() * 1000)
    [sold] = gw.ingest([register.envelope(sale(700, time_ms=now - 5_000))]).acks
    assert sold.status == pb.ACCEPTED, sold
    signed = [
        *(register.envelope(sale(800 + seq, time_ms=now), seq=seq, advance=False) for seq in range(4, 15)),
        register.envelope(sale(900, time_ms=now), seq=2, prev_hash=b"\x07" * 32, advance=False),
        register.envelope(sale(901, time_ms=now), seq=1, prev_hash=signing.genesis_hash(REFUSING_DEVICE),
                          advance=False),
    ]
    acks = gw.ingest(signed).acks
    assert [a.error_code for a in acks] == ["seq_gap"] * 11 + ["prev_hash_mismatch", "chain_fork"], acks
    # Anyone can name the register: five envelopes with its key id and a signature of another key, and one
    # signed by a key of the forger's own.
    stranger = signing.new_private_key()
    forged = [
        register.envelope(sale(100 + seq, time_ms=now), seq=seq, advance=False, key=stranger)
        for seq in range(2, 7)
    ]
    assert {a.error_code for a in gw.ingest(forged).acks} == {"bad_signature"}
    impostor = ChainedRegister(REFUSING_DEVICE)
    assert gw.ingest([impostor.envelope(sale(100, time_ms=now), seq=2)]).acks[0].error_code == "unknown_key"
    # Seller A's register whose first upload starts at seq 2: refused, nothing accepted, no reports.
    silent = registered(gw, SILENT_DEVICE, GOLDEN_TIN, A_STORE)
    assert gw.ingest([silent.envelope(sale(100, time_ms=now), seq=2)]).acks[0].error_code == "seq_gap"
    expected = sum(REFUSED_SIGNED.values()) + sum(REFUSED_FORGED.values()) + 1
    stored = f"SELECT count() FROM tracegate.rejections WHERE device_id LIKE '{REFUSING_DEVICE[:-1]}%'"
    deadline = time.monotonic() + 30
    while gw.sql(stored)[0][0] < expected:
        assert time.monotonic() < deadline, "the refusals never reached the store"
        time.sleep(0.2)
    return REFUSING_DEVICE


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
    register = registered(gw, FORGED_DEVICE, tin, "AST-900")
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
    return 2, local_day(now).isoformat()  # the seller's day (UTC+5): 19:00-24:00 UTC is the next one


def _code(seed: int) -> str:
    shoes = next(g for g in default_catalog() if g.marking_group == "shoes")
    return marking_code(shoes, random.Random(seed))


def _sale_of(code: str, document: int, time_ms: int) -> pb.Event:
    event = sale(2500, time_ms=time_ms)
    event.receipt.document_number = document
    event.receipt.lines[0].marking_codes.append(code)
    event.receipt.lines[0].gtin = code[2:16]
    return event


def _double_sale(gw: GatewayProcess, tin_b: str, tmp: Path) -> tuple[int, str, str]:
    """Registry codes of A and B; B sells its code, A sells it again and an expired code of its own."""
    double, untouched, expired = _code(9101), _code(9102), _code(9103)
    registry = tmp / "registry.csv"
    registry.write_text(
        "code,owner_tin,status,expires_on\n"
        f"{double},{tin_b},introduced,\n{untouched},{tin_b},introduced,\n"
        f"{expired},{GOLDEN_TIN},introduced,{EXPIRED_ON}\n"
    )
    tracegate("codes", "import", str(registry), "--data", str(gw.data))
    registers = {}
    for device, tin, store in ((B_DEVICE, tin_b, B_STORE), (A_DEVICE, GOLDEN_TIN, A_STORE)):
        registers[device] = registered(gw, device, tin, store)
    now = int(time.time() * 1000)
    acks = list(gw.ingest([registers[B_DEVICE].envelope(_sale_of(double, 1, now - 60_000))]).acks)
    acks += gw.ingest(
        [
            registers[A_DEVICE].envelope(_sale_of(double, 1, now - 30_000)),
            registers[A_DEVICE].envelope(_sale_of(expired, 2, now - 20_000)),
        ]
    ).acks
    assert [a.status for a in acks] == [pb.ACCEPTED] * 3, acks
    return 3, str(validate_code(double).cis), str(validate_code(untouched).cis)


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
        doubled, double_sold, owned_by_b = _double_sale(gw, SELLER_TINS[1], data.parent)
        gw.wait_shipped(accepted + forged + doubled)
        yield Loaded(
            gw,
            issue(gw, "--scope", "analyst", "--label", "tests"),
            issue(gw, "--scope", "retailer", "--tin", GOLDEN_TIN),
            issue(gw, "--scope", "retailer", "--tin", SELLER_TINS[1]),
            SELLER_TINS[1],
            forged_day,
            double_sold,
            owned_by_b,
        )
    finally:
        gw.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless chromium for a module's page tests."""
    b = Browser()
    try:
        yield b
    finally:
        b.close()

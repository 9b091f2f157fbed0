"""Writes the deterministic golden fixtures (protobuf batches and device keys) into tests/fixtures/."""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from firmware_sim.catalog import Goods, marking_code
from firmware_sim.device import SHIFT_FLOAT, DeviceIdentity, Register, deterministic_signer, private_key_pem
from firmware_sim.fleet import SELLER_TINS
from firmware_sim.journal import encode_batch
from firmware_sim.receipts import BasketItem, PaymentPlan, fill_receipt
from gateway.wire import pb

FIXTURES_DIR = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
START_MS = 1_768_467_600_000  # 2026-01-15 09:00:00 UTC
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def golden_key(name: str) -> ec.EllipticCurvePrivateKey:
    """A fixed P-256 key derived from a name (fixtures only: anyone can derive it)."""
    secret = int.from_bytes(hashlib.sha256(b"tracegate golden key " + name.encode()).digest(), "big")
    return ec.derive_private_key(secret % (_P256_ORDER - 1) + 1, ec.SECP256R1())


def _stepping_clock(start_ms: int, step_ms: int) -> Callable[[], int]:
    now = [start_ms - step_ms]

    def clock() -> int:
        now[0] += step_ms
        return now[0]

    return clock


def golden_register(device_id: str, seller_tin: str, store_id: str, seed: int) -> Register:
    """A register whose every byte is reproducible: fixed key, RFC 6979 signatures, stepping clock."""
    key = golden_key(device_id)
    return Register(
        DeviceIdentity(device_id, seller_tin, store_id),
        key,
        rng=random.Random(seed),
        clock=_stepping_clock(START_MS, 47_000),
        signer=deterministic_signer(key),
    )


def _goods(catalog: list[Goods], group: str = "", weighed: bool = False) -> list[Goods]:
    return [g for g in catalog if g.marking_group == group and g.weighed == weighed]


def _valid_day(register: Register) -> list[bytes]:
    """One shift: open, float, every kind of sale, a return, a withdrawal, close (20 events)."""
    rng, catalog = register.rng, register.catalog
    plain, weighed = _goods(catalog), _goods(catalog, weighed=True)
    shoes, tobacco, dairy = _goods(catalog, "shoes"), _goods(catalog, "tobacco"), _goods(catalog, "dairy")
    events = [register.open_shift("Айгерим Садыкова"),
              register.cash_movement(pb.CashMovement.DEPOSIT, SHIFT_FLOAT)]
    basket = [BasketItem(plain[0], 2000), BasketItem(dairy[0], 1000, codes=(marking_code(dairy[0], rng),)),
              BasketItem(weighed[0], 1234)]
    events.append(register.sell(basket, PaymentPlan(cash_given=5000_00)))  # cash with change
    events.append(register.sell([BasketItem(shoes[0], 1000, codes=(marking_code(shoes[0], rng),))],
                                PaymentPlan(card=shoes[0].price)))
    packs = tuple(marking_code(tobacco[0], rng) for _ in range(2))
    chocolate = next(g for g in plain if g.name.startswith("Шоколад"))
    basket = [BasketItem(tobacco[0], 2000, codes=packs), BasketItem(chocolate, 3000, discount=19_47)]
    total = 2 * tobacco[0].price + 3 * chocolate.price - 19_47
    events.append(register.sell(basket, PaymentPlan(mobile=total)))
    for _ in range(10):
        events.append(register.sell())
    events.append(register.sell_return(sale_index=1))  # the shoes, refunded to the card
    events.append(register.sell(buyer=register.random_buyer()))
    events.append(register.cash_movement(pb.CashMovement.WITHDRAWAL, 10_000_00))
    events.append(register.sell([BasketItem(weighed[2], 2750), BasketItem(plain[3], 6000)]))
    events.append(register.close_shift())
    return events


def _sum_mismatch_day(register: Register) -> list[bytes]:
    """Open, float, a sale, a sale whose total is 1.00 more than its lines (paid as stated), a sale."""
    plain = _goods(register.catalog)
    events = [register.open_shift("Ерлан Жумабаев"),
              register.cash_movement(pb.CashMovement.DEPOSIT, SHIFT_FLOAT)]
    events.append(register.sell([BasketItem(plain[1], 1000)], PaymentPlan(card=plain[1].price)))
    receipt = register.new_receipt(pb.SELL)
    fill_receipt(receipt, [BasketItem(plain[4], 1000), BasketItem(plain[5], 2000)],
                 PaymentPlan(card=plain[4].price + 2 * plain[5].price))
    receipt.total += 100  # the firmware bug this fixture stands for
    receipt.payments[0].sum += 100
    events.append(register.book(receipt))
    events.append(register.sell([BasketItem(plain[6], 1000)], PaymentPlan(mobile=plain[6].price)))
    return events


def _device_entry(register: Register) -> dict[str, Any]:
    return {**register.registration(), "key_id": register.key_id,
            "private_key_pem": private_key_pem(register.key)}


def write_fixtures(out: Path) -> dict[str, Any]:
    """Write every golden fixture into out; returns the devices.json content."""
    out.mkdir(parents=True, exist_ok=True)
    seller = SELLER_TINS[0]
    valid = golden_register("golden-0001", seller, "ALA-101", seed=20260115)
    mismatch = golden_register("golden-0002", seller, "ALA-102", seed=20260116)
    fixtures = {"valid_batch.pb": (valid, _valid_day(valid)),
                "receipt_sum_mismatch.pb": (mismatch, _sum_mismatch_day(mismatch))}
    manifest: dict[str, Any] = {"devices": [_device_entry(valid), _device_entry(mismatch)], "fixtures": {}}
    for name, (register, envelopes) in fixtures.items():
        (out / name).write_bytes(encode_batch(envelopes))
        manifest["fixtures"][name] = {
            "device_id": register.identity.device_id, "first_seq": 1, "last_seq": len(envelopes),
            "head_hash": register.prev_hash.hex(),
            # Device times are fixed (2026-01-15): a gateway clock far later flags late_upload findings.
            "first_time_ms": pb.Event.FromString(pb.Envelope.FromString(envelopes[0]).event).time_ms,
            "last_time_ms": register.last_time_ms,
        }
    manifest["fixtures"]["receipt_sum_mismatch.pb"]["mismatch_seq"] = 4
    (out / "devices.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    """python -m firmware_sim.golden [--out DIR]"""
    parser = argparse.ArgumentParser(description="Write the golden fixtures (deterministic) for tests.")
    parser.add_argument("--out", type=Path, default=FIXTURES_DIR, help=f"directory (default {FIXTURES_DIR})")
    args = parser.parse_args(argv)
    manifest = write_fixtures(args.out)
    for name, info in manifest["fixtures"].items():
        print(f"{args.out / name}: {info['device_id']} seq {info['first_seq']}..{info['last_seq']}")
    print(f"{args.out / 'devices.json'}: {len(manifest['devices'])} devices")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

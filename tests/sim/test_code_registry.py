"""The simulator's registry of marked goods: the file it writes, the codes its shops scan, checked sales."""

from __future__ import annotations

import base64
import datetime as dt
import json
import random
from pathlib import Path

from firmware_sim.catalog import default_catalog
from firmware_sim.code_registry import CodeBook, write_registry
from firmware_sim.device import DeviceIdentity, Register
from firmware_sim.receipts import BasketItem
from gateway.codes.parser import validate_code
from gateway.codes.registry_file import RegistryRow, read_registry
from gateway.wire import pb, signing

SELLERS = ["080740000019", "080740000029"]
TODAY = dt.date(2026, 11, 27)


def test_registry_file_is_importable_with_a_few_bad_codes(tmp_path: Path) -> None:
    path = tmp_path / "registry.jsonl"
    count = write_registry(path, SELLERS, seed=3, today=TODAY, per_pool=200)
    marked = [g for g in default_catalog() if g.marking_group]
    assert count == len(SELLERS) * len(marked) * 200
    with path.open("rb") as source:
        rows = list(read_registry(source))
    assert all(isinstance(r, RegistryRow) for r in rows) and len(rows) == count
    statuses = {s: sum(1 for r in rows if r.status == s) for s in ("blocked", "emitted", "introduced")}
    expired = sum(1 for r in rows if isinstance(r, RegistryRow) and r.expires_on and r.expires_on < TODAY)
    assert 0.01 * count < statuses["blocked"] < 0.04 * count
    assert 0.01 * count < statuses["emitted"] < 0.04 * count
    assert 0.015 * count < expired < 0.05 * count
    assert write_registry(tmp_path / "again.jsonl", SELLERS, seed=3, today=TODAY, per_pool=200) == count
    assert (tmp_path / "again.jsonl").read_text() == path.read_text()  # same seed, same registry


def test_shops_sell_their_sellers_codes_once_plus_unknown_and_clones(tmp_path: Path) -> None:
    path = tmp_path / "registry.jsonl"
    write_registry(path, SELLERS, seed=4, today=TODAY, per_pool=100)
    owner_of = {validate_code(json.loads(line)["code"]).cis: json.loads(line)["owner_tin"]
                for line in path.read_text().splitlines()}
    book = CodeBook.load(path, seed=4)
    book.unknown_share, book.clone_share = 0.1, 0.1
    shops = [book.source_for(SELLERS[0], "ALA-1"), book.source_for(SELLERS[1], "AST-1")]
    shoes = next(g for g in default_catalog() if g.marking_group == "shoes")
    rng = random.Random(1)
    sold: dict[str, list[int]] = {}
    for turn in range(300):
        shop = turn % 2
        code = shops[shop](shoes, rng)
        sold.setdefault(code, []).append(shop)
    kinds = {"own": 0, "unknown": 0, "clone": 0}
    for code, shops_selling in sold.items():
        cis = validate_code(code).cis
        assert cis is not None
        if cis not in owner_of:
            kinds["unknown"] += 1
        elif len(set(shops_selling)) > 1:
            kinds["clone"] += 1
        else:
            assert len(shops_selling) == 1  # a registry code is handed out once per shop
            assert owner_of[cis] == SELLERS[shops_selling[0]]
            kinds["own"] += 1
    assert kinds["own"] > 150 and kinds["unknown"] > 10 and kinds["clone"] > 5


def test_a_checked_sale_carries_the_check_id_on_marked_lines() -> None:
    register = Register(DeviceIdentity("KKM-1", SELLERS[0], "ALA-1"), signing.new_private_key(),
                        rng=random.Random(2))
    register.open_shift()
    shoes = next(g for g in register.catalog if g.marking_group == "shoes")
    bread = next(g for g in register.catalog if not g.marking_group and not g.weighed)
    register.sell(items=[BasketItem(shoes, 1000, codes=("C",)), BasketItem(bread, 1000)],
                  code_check=("chk-9", 1234))
    receipt = register.recent_sales[-1]["receipt"]
    lines = pb.Receipt.FromString(base64.b64decode(receipt)).lines
    assert (lines[0].code_check_id, lines[0].code_check_time_ms) == ("chk-9", 1234)
    assert lines[1].code_check_id == ""


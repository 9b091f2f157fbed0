"""Marked goods from a registry: the operator's file of emitted codes, and the shops selling from it.

`write_registry` generates the file a fleet sells from (JSON lines: code, owner_tin, status, expires_on):
per seller and marked goods a pool of codes, most introduced and fresh, a few blocked, not yet in
circulation, or expired. `CodeBook` hands those codes out to the registers of each seller, one sale per
code, and sometimes something a real shop should not sell: an unknown code (not in the file), or a
counterfeit clone of a code another shop already sold.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from firmware_sim.catalog import Goods, default_catalog, marking_code

CodeSource = Callable[[Goods, random.Random], str]
CODES_PER_POOL = 300
BAD_SHARES = (("blocked", 0.02), ("emitted", 0.02), ("expired", 0.03))  # share of each pool
UNKNOWN_SHARE = 0.03  # codes a shop sells that the registry never emitted
CLONE_SHARE = 0.03  # codes a shop sells that another shop sold already


def write_registry(path: Path, sellers: list[str], seed: int, today: dt.date | None = None,
                   per_pool: int = CODES_PER_POOL) -> int:
    """Write the registry file the fleet of these sellers sells from; returns the number of codes."""
    today = today or dt.date.today()
    rng = random.Random(seed * 31 + 7)
    count = 0
    with path.open("w") as out:
        for seller in sellers:
            for goods in (g for g in default_catalog() if g.marking_group):
                for _ in range(per_pool):
                    status, expires = _status_and_expiry(goods, rng, today)
                    row = {"code": marking_code(goods, rng), "owner_tin": seller, "status": status,
                           "expires_on": expires}
                    out.write(json.dumps(row) + "\n")
                    count += 1
    return count


def _status_and_expiry(goods: Goods, rng: random.Random, today: dt.date) -> tuple[str, str]:
    roll = rng.random()
    for bad, share in BAD_SHARES:
        if roll < share:
            if bad == "expired":
                return "introduced", (today - dt.timedelta(days=rng.randint(1, 90))).isoformat()
            return bad, ""
        roll -= share
    if goods.marking_group in ("dairy", "medicines"):
        return "introduced", (today + dt.timedelta(days=rng.randint(30, 700))).isoformat()
    return "introduced", ""


@dataclass
class CodeBook:
    """What the fleet's shops have on their shelves: each seller's codes, and what was sold where."""

    pools: dict[tuple[str, str], deque[str]] = field(default_factory=dict)
    sold: list[tuple[str, str]] = field(default_factory=list)  # (store key, code), recent sales
    unknown_share: float = UNKNOWN_SHARE
    clone_share: float = CLONE_SHARE

    @classmethod
    def load(cls, path: Path, seed: int) -> CodeBook:
        """Read a registry file; each pool is shuffled (seeded) so bad codes turn up spread over the run."""
        book = cls()
        with path.open() as source:
            for line in source:
                if line.strip():
                    row = json.loads(line)
                    gtin = row["code"][2:16]
                    book.pools.setdefault((row["owner_tin"], gtin), deque()).append(row["code"])
        rng = random.Random(seed)
        for key in sorted(book.pools):
            codes = list(book.pools[key])
            rng.shuffle(codes)
            book.pools[key] = deque(codes)
        return book

    def source_for(self, seller_tin: str, store_id: str) -> CodeSource:
        """The codes one shop scans: its seller's next code, else (rarely, or when out) unknown or clone."""
        store_key = f"{seller_tin}/{store_id}"

        def next_code(goods: Goods, rng: random.Random) -> str:
            roll = rng.random()
            pool = self.pools.get((seller_tin, goods.gtin))
            if roll < self.clone_share:
                recent = self.sold[-500:]
                others = [code for key, code in recent if key != store_key and code[2:16] == goods.gtin]
                if others:
                    return rng.choice(others)
            if roll < self.clone_share + self.unknown_share or not pool:
                return marking_code(goods, rng)
            code = pool.popleft()
            self.sold.append((store_key, code))
            del self.sold[:-2000]
            return code

        return next_code

"""Speed of validate_code against biip on one generated corpus, measured in one run on one core."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway.codes.linters import X82_ORDER
from gateway.codes.parser import validate_code

GS = "\x1d"


def gtin_with_check(body13: str) -> str:
    """A GTIN-14 from 13 digits, with its GS1 mod-10 check digit."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body13)))
    return body13 + str((10 - total % 10) % 10)


def _x82(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(X82_ORDER) for _ in range(n))


def generate_corpus(count: int, seed: int = 7) -> list[str]:
    """Real-shaped marking codes: shoes/clothing (91+92), tobacco blocks and packs, dairy, some broken."""
    rng = random.Random(seed)
    codes: list[str] = []
    for i in range(count):
        gtin = gtin_with_check("0460" + "".join(rng.choice("0123456789") for _ in range(9)))
        shape = i % 5
        if shape == 0:
            code = f"01{gtin}21{_x82(rng, 13)}{GS}91{_x82(rng, 4)}{GS}92{_x82(rng, 44)}"
        elif shape == 1:
            code = f"]d2{GS}01{gtin}21{_x82(rng, 7)}{GS}8005{rng.randrange(10**6):06d}{GS}93{_x82(rng, 4)}"
        elif shape == 2:
            code = f"01{gtin}21{_x82(rng, 6)}{GS}93{_x82(rng, 4)}{GS}3103{rng.randrange(10**6):06d}"
        elif shape == 3:
            code = f"01{gtin}21{_x82(rng, 13)}{GS}17{rng.randrange(20, 30)}1231{GS}93{_x82(rng, 4)}"
        else:
            code = gtin + _x82(rng, 15)  # raw tobacco pack
        codes.append(code)
    return codes


@dataclass(frozen=True)
class BenchFigures:
    """Codes per second of ours and biip's on the same corpus."""

    count: int
    ours_per_s: float
    biip_per_s: float

    @property
    def ratio(self) -> float:
        """How many times faster ours is."""
        return self.ours_per_s / self.biip_per_s


def _biip_parse(code: str) -> object:
    import biip

    try:
        return biip.parse(code)
    except biip.ParseError as exc:  # biip raises on codes it cannot read; that is its verdict
        return exc


def _cpu_seconds(fn: Callable[[str], object], codes: list[str]) -> float:
    started = time.process_time()
    for code in codes:
        fn(code)
    return time.process_time() - started


def run_bench(count: int, biip_count: int | None = None, rounds: int = 5) -> BenchFigures:
    """Codes/s of ours over `count` codes and of biip over `biip_count` of the same corpus.

    The two run in alternating slices and are timed in process CPU time, so other load on the machine
    weighs on both alike; each side keeps its best round.
    """
    codes = generate_corpus(count)
    biip_codes = codes[: biip_count or min(count, 5000)]
    _cpu_seconds(validate_code, codes[:1000])  # warm caches and lazy imports for both
    _cpu_seconds(_biip_parse, biip_codes[:100])
    ours = theirs = float("inf")
    for _ in range(rounds):
        ours = min(ours, _cpu_seconds(validate_code, codes) / len(codes))
        theirs = min(theirs, _cpu_seconds(_biip_parse, biip_codes) / len(biip_codes))
    return BenchFigures(count, 1 / ours, 1 / theirs)

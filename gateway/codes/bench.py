"""Speed of validate_code and of `codes validate` against biip on one generated corpus, in one run."""

from __future__ import annotations

import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

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


BIIP_MISSING = (
    "the benchmark compares against biip, which is not installed: pip install 'tracegate[bench]' "
    "(or the dev extra) into this environment, then run it again"
)
# `tracegate codes validate` as a user runs it, from this interpreter and source tree.
_VALIDATE_COMMAND = (sys.executable, "-m", "gateway.cli.main", "codes", "validate")


class BiipMissing(RuntimeError):
    """biip, the baseline of the benchmark, is not installed (it is an optional extra)."""


@dataclass(frozen=True)
class BenchFigures:
    """Codes per second of the library, of the command end to end and of biip, on one corpus and one core."""

    count: int
    ours_per_s: float
    cli_per_s: float
    biip_per_s: float
    startup_s: float
    startup_cpu_s: float
    python_startup_s: float

    @property
    def ratio(self) -> float:
        """How many times faster the library is than biip."""
        return self.ours_per_s / self.biip_per_s

    @property
    def cli_ratio(self) -> float:
        """How many times faster `codes validate` is end to end than biip's parser."""
        return self.cli_per_s / self.biip_per_s


def _biip_parser() -> Callable[[str], object]:
    try:
        import biip
    except ImportError as exc:
        raise BiipMissing(BIIP_MISSING) from exc

    def parse(code: str) -> object:
        try:
            return biip.parse(code)
        except biip.ParseError as error:  # biip raises on codes it cannot read; that is its verdict
            return error

    return parse


def _cpu_seconds(fn: Callable[[str], object], codes: list[str]) -> float:
    started = time.process_time()
    for code in codes:
        fn(code)
    return time.process_time() - started


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_process(command: Sequence[str], stdin: Path, stdout: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of one child process, start-up included, from stdin's file to stdout's."""
    cpu = _children_cpu()
    started = time.perf_counter()
    with stdin.open("rb") as source, stdout.open("wb") as sink:
        subprocess.run(command, stdin=source, stdout=sink, check=True)
    return time.perf_counter() - started, _children_cpu() - cpu


def run_bench(count: int, biip_count: int | None = None, rounds: int = 5) -> BenchFigures:
    """Codes/s of the library and of `tracegate codes validate` (a separate process reading a file of
    `count` codes, writing JSON lines to a file) over the corpus, and of biip over `biip_count` of it.

    The three run in alternating slices and are timed in CPU time (the command's own, start-up
    included), so other load on the machine weighs on all alike; each keeps its best round. Start-up is
    the command on an empty input, against the bare interpreter, best of the same rounds.
    """
    biip_parse = _biip_parser()
    codes = generate_corpus(count)
    biip_codes = codes[: biip_count or min(count, 5000)]
    _cpu_seconds(validate_code, codes[:1000])  # warm caches and lazy imports for both
    _cpu_seconds(biip_parse, biip_codes[:100])
    ours = cli = theirs = startup = startup_cpu = python = float("inf")
    with tempfile.TemporaryDirectory(prefix="tracegate-codes-bench-") as scratch:
        corpus, empty, out = (Path(scratch, name) for name in ("codes.txt", "empty.txt", "out.jsonl"))
        corpus.write_text("\n".join(codes) + "\n")
        empty.write_bytes(b"")
        for _ in range(rounds):
            ours = min(ours, _cpu_seconds(validate_code, codes) / len(codes))
            cli = min(cli, _run_process(_VALIDATE_COMMAND, corpus, out)[1] / len(codes))
            theirs = min(theirs, _cpu_seconds(biip_parse, biip_codes) / len(biip_codes))
            wall, cpu = _run_process(_VALIDATE_COMMAND, empty, out)
            startup, startup_cpu = min(startup, wall), min(startup_cpu, cpu)
            python = min(python, _run_process((sys.executable, "-c", "pass"), empty, out)[0])
    return BenchFigures(count, 1 / ours, 1 / cli, 1 / theirs, startup, startup_cpu, python)

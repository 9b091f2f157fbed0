"""`make attack`: replay the outside attack run against a real gateway and say, for each, held or broke.

    python -m tests.attack.run [--short] [--only NAME] [--code DIR] [--markdown]

The gateway is `tracegate serve` on a temporary directory (of this source tree, or of --code DIR: the
same attacks against another version). One line per attack as it runs, then the table; exit 1 if any
attack broke. --short is the CI form (fewer repetitions); --markdown prints the table for docs/security.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from tests.attack.attacks import ATTACKS, Attack
from tests.attack.target import Target


@dataclass(frozen=True)
class Result:
    """What one attack did."""

    attack: Attack
    held: bool
    observed: str
    seconds: float


def run_one(attack: Attack, target: Target, short: bool) -> Result:
    """Try one attack; an attack that crashes counts as broke, with the reason."""
    began = time.monotonic()
    try:
        held, observed = attack.run(target, short)
    except Exception as exc:
        traceback.print_exc()
        held, observed = False, f"the attack could not complete: {exc!r}"[:300]
    return Result(attack, held, observed, time.monotonic() - began)


def run_all(data: Path, *, short: bool, only: list[str] | None = None, code: Path | None = None,
            report: bool = True) -> list[Result]:
    """Start a gateway on data, replay the attacks (all, or only these), stop it; the results."""
    target = Target.start(data, code)
    results = []
    try:
        for attack in ATTACKS:
            if only and attack.name not in only:
                continue
            result = run_one(attack, target, short)
            results.append(result)
            if report:
                verdict = "held" if result.held else "BROKE"
                print(f"{verdict:<5}  {attack.name:<26} {result.observed}", file=sys.stderr, flush=True)
    finally:
        target.stop()
    return results


def table(results: list[Result], *, markdown: bool = False) -> str:
    """The results as a text table (or a Markdown one): attack | expected | observed | result."""
    rows = [(r.attack.name, r.attack.expected, r.observed, "held" if r.held else "BROKE") for r in results]
    header = ("attack", "expected", "observed", "result")
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
        return "\n".join(lines)
    return "\n".join(f"{result:<5}  {name}\n       expected: {expected}\n       observed: {observed}"
                     for name, expected, observed, result in rows)


def main(argv: list[str] | None = None) -> int:
    """Run the attacks; exit 1 if any broke."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--short", action="store_true", help="the CI form: fewer repetitions")
    parser.add_argument("--only", action="append", choices=[a.name for a in ATTACKS], help="run only these")
    parser.add_argument("--code", type=Path, default=None, help="run the gateway of this source tree")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--keep", type=Path, default=None, help="keep the data directory and log here")
    args = parser.parse_args(argv)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tracegate-attack-") as tmp:
        root = args.keep or Path(tmp)
        results = run_all(root / "data", short=args.short, only=args.only, code=args.code)
    print(table(results, markdown=args.markdown))
    broke = [r.attack.name for r in results if not r.held]
    print(f"\n{len(results) - len(broke)}/{len(results)} attacks held ({time.monotonic() - began:.0f} s)"
          + (f"; broke: {', '.join(broke)}" if broke else ""))
    return 1 if broke else 0


if __name__ == "__main__":
    sys.exit(main())

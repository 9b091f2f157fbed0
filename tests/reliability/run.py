"""`make reliability`: run every fault scenario against the real gateway and print the promise table."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from tests.reliability.authentic_content import run_authentic_content
from tests.reliability.code_race import run_code_race
from tests.reliability.crash import run_crash
from tests.reliability.gap_restart import run_gap_restart
from tests.reliability.journal_damage import run_journal_damage
from tests.reliability.journal_full import run_journal_full
from tests.reliability.ledger import Verdict
from tests.reliability.power_cut import run_power_cut
from tests.reliability.restart_backlog import run_restart_backlog
from tests.reliability.sim_run import ScenarioResult
from tests.reliability.storage_outage import run_storage_outage
from tests.reliability.takeover import run_takeover

Scenario = Callable[..., ScenarioResult]
SCENARIOS: dict[str, Scenario] = {
    "crash": run_crash,
    "journal_damage": run_journal_damage,
    "storage_outage": run_storage_outage,
    "journal_full": run_journal_full,
    "restart_backlog": run_restart_backlog,
    "power_cut": run_power_cut,
    "gap_restart": run_gap_restart,
    "authentic_content": run_authentic_content,
    "code_race": run_code_race,
    "takeover": run_takeover,
}
HEADER = ("scenario", "events acked", "events stored", "other rows", "lost", "doubled", "time to recover",
          "result")


def table(results: list[ScenarioResult]) -> str:
    """The results as a fixed-width text table."""
    rows = [HEADER] + [
        (r.scenario, str(r.verdict.acked), str(r.verdict.stored), str(r.verdict.table_rows),
         str(r.verdict.lost), str(r.verdict.doubled), f"{r.recover_s:.1f} s", "ok" if r.ok else "FAILED")
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run_one(name: str, workdir: Path, short: bool) -> ScenarioResult:
    """Run one scenario; an exception becomes a failed row rather than stopping the others."""
    try:
        return SCENARIOS[name](workdir / name, short=short)
    except Exception as exc:
        traceback.print_exc()
        return ScenarioResult(name, Verdict(0, 0, 0, 0, [f"scenario crashed: {exc!r}"]), 0.0)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen scenarios `--repeat` times; exit 1 if any promise broke."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--short", action="store_true", help="the CI form (a few minutes in all)")
    parser.add_argument("--only", action="append", choices=sorted(SCENARIOS), help="run only these")
    parser.add_argument("--repeat", type=int, default=1, help="run everything this many times")
    parser.add_argument("--keep", type=Path, default=None, help="keep data dirs and logs here")
    args = parser.parse_args(argv)
    names = args.only or list(SCENARIOS)
    results: list[ScenarioResult] = []
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tracegate-reliability-") as tmp:
        root = args.keep or Path(tmp)
        for round_ in range(args.repeat):
            for name in names:
                print(f"[round {round_ + 1}] {name} ...", file=sys.stderr, flush=True)
                result = run_one(name, root / f"round{round_ + 1}", args.short)
                results.append(result)
                for line in result.notes + result.verdict.problems:
                    print(f"    {line}", file=sys.stderr, flush=True)
    print(table(results))
    failed = [r for r in results if not r.ok]
    print(f"\n{len(results) - len(failed)}/{len(results)} scenario runs kept the promise "
          f"({time.monotonic() - began:.0f} s)")
    for r in failed:
        print(f"FAILED {r.scenario}: {'; '.join(r.verdict.problems)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""What `tracegate verify` says: one PASS/FAIL line per check (per device), NOTEs, and the exit status.

Checks are a closed set (CHECKS): integrity checks decide whether the file is the authentic, complete
history; content checks (the register's own arithmetic) only whether that history adds up.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

PASS, FAIL, NOTE = "PASS", "FAIL", "NOTE"
EXPORT_SCOPE = "export"  # the scope of the file-wide checks (the others are per device id)

EXIT_PASS = 0
EXIT_NOT_AUTHENTIC = 1  # an integrity check failed: altered, incomplete, or not what it claims
EXIT_USAGE = 2  # argparse's own code for bad arguments, and a file that cannot be read at all
EXIT_CONTENT = 3  # authentic and complete, but the register's own sums do not add up

MAX_FAILS_SHOWN = 50  # per check and scope; the rest are counted


@dataclass(frozen=True)
class Check:
    """One check: its name, what it proves, and whether it is about content (not integrity)."""

    name: str
    proves: str
    content: bool = False


CHECKS: dict[str, Check] = {
    c.name: c
    for c in (
        Check(
            "file", "the file is a complete export of this format: every line parses, in order, to the end"
        ),
        Check(
            "manifest", "the gateway's signature over the manifest, which counts and hashes the whole file"
        ),
        Check("seq", "seqs run 1, 2, 3 … with no gap that a signed gap notice does not declare"),
        Check("chain", "every prev_hash is the hash of the event before it (the genesis value for seq 1)"),
        Check("signatures", "every event is covered by an ES256 signature of the key in force at its seq"),
        Check("keys", "the key history: each rotation signed by the key it replaces, key ids as listed"),
        Check("revocation", "no event carries a revoked key's signature from its revocation point on"),
        Check("arithmetic", "each receipt's, cash movement's and Z report's own sums", content=True),
        Check(
            "z-reports", "each Z report against the receipts and cash movements of its shift", content=True
        ),
    )
}


@dataclass(frozen=True)
class Line:
    """One line of the verdict."""

    status: str
    scope: str  # a device id, or EXPORT_SCOPE
    check: str
    detail: str
    seq: int | None = None

    def text(self) -> str:
        """As printed."""
        return f"{self.status}  {self.scope}  {self.check}: {self.detail}"

    def to_json(self) -> dict[str, Any]:
        """As in --json."""
        out: dict[str, Any] = {"status": self.status, "scope": self.scope, "check": self.check}
        if self.seq is not None:
            out["seq"] = self.seq
        out["detail"] = self.detail
        return out


@dataclass
class Report:
    """Collects failures and notes as they are found, and the PASS lines of checks that found none."""

    lines: list[Line] = field(default_factory=list)
    _fails: dict[tuple[str, str], int] = field(default_factory=dict)
    events: int = 0
    proof_events: int = 0  # proof records after a range (not counted in events)
    devices: int = 0
    elapsed_s: float = 0.0

    def fail(self, scope: str, check: str, detail: str, seq: int | None = None) -> None:
        """A failure of check; the first MAX_FAILS_SHOWN of each check and scope are kept as lines."""
        assert check in CHECKS, check
        count = self._fails.get((scope, check), 0) + 1
        self._fails[(scope, check)] = count
        if count <= MAX_FAILS_SHOWN:
            self.lines.append(Line(FAIL, scope, check, detail, seq))

    def note(self, scope: str, check: str, detail: str, seq: int | None = None) -> None:
        """Something the reader should know that is not a failure (what is attested by whom, …)."""
        self.lines.append(Line(NOTE, scope, check, detail, seq))

    def failed(self, scope: str, check: str) -> bool:
        """Whether check failed for scope."""
        return (scope, check) in self._fails

    def conclude(self, scope: str, check: str, passed: str) -> None:
        """End a check: its PASS line, or how many failures were not shown."""
        count = self._fails.get((scope, check), 0)
        if not count:
            self.lines.append(Line(PASS, scope, check, passed))
        elif count > MAX_FAILS_SHOWN:
            self.lines.append(Line(FAIL, scope, check, f"… and {count - MAX_FAILS_SHOWN} more failures"))

    def failed_checks(self) -> list[str]:
        """Names of the checks that failed anywhere, in CHECKS order."""
        names = {check for _, check in self._fails}
        return [name for name in CHECKS if name in names]

    @property
    def exit_status(self) -> int:
        """0 all passed; 1 not authentic or incomplete; 3 authentic, but content checks failed."""
        failed = self.failed_checks()
        if not failed:
            return EXIT_PASS
        if all(CHECKS[name].content for name in failed):
            return EXIT_CONTENT
        return EXIT_NOT_AUTHENTIC

    def verdict(self) -> str:
        """The last line."""
        failed = self.failed_checks()
        rate = f"{self.events / self.elapsed_s:,.0f} events/s" if self.elapsed_s > 0 else ""
        proofs = f" (and {self.proof_events:,} proof records)" if self.proof_events else ""
        took = f"{self.elapsed_s:.1f} s ({rate})"
        counted = f"{self.devices} device(s), {self.events:,} events{proofs} in {took}"
        if not failed:
            return f"RESULT PASS: every check passed; {counted}"
        kind = "content only" if self.exit_status == EXIT_CONTENT else "not authentic or incomplete"
        return f"RESULT FAIL ({kind}): {', '.join(failed)} failed; {counted}"

    def ordered(self) -> list[Line]:
        """The lines about the whole file first, then each device's, each in the order found."""
        return sorted(self.lines, key=lambda item: item.scope != EXPORT_SCOPE)

    def text_lines(self) -> Iterator[str]:
        """Every line as printed, and the verdict."""
        for item in self.ordered():
            yield item.text()
        yield self.verdict()

    def to_json(self) -> dict[str, Any]:
        """The --json document."""
        return {
            "result": PASS if not self.failed_checks() else FAIL,
            "exit_status": self.exit_status,
            "failed_checks": self.failed_checks(),
            "devices": self.devices,
            "events": self.events,
            "proof_events": self.proof_events,
            "elapsed_s": round(self.elapsed_s, 3),
            "lines": [item.to_json() for item in self.ordered()],
        }

    def json_text(self) -> str:
        """to_json as text."""
        return json.dumps(self.to_json(), ensure_ascii=False, indent=1)

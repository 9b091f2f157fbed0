"""Every anomaly kind the code raises or reads is in the one registry (gateway/anomaly_kinds.py)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from gateway.anomaly_kinds import NAMES

GATEWAY = Path(__file__).resolve().parent.parent / "gateway"
# Calls that make a finding, and the argument that is its kind (keyword `kind` or the first positional).
_MAKERS = {"Finding", "_finding", "finding", "Raised"}
# Modules that read kinds by name (the texts written per kind, the incident queries).
_READERS = ("query/anomaly_text.py", "query/anomalies.py")


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(GATEWAY.rglob("*.py")):
        if "migrations" not in path.parts and "wire" not in path.parts:  # migrations are fixed history
            yield path, ast.parse(path.read_text())


def _constants() -> dict[str, set[str]]:
    """Module-level `NAME = "text"` of every module (a kind kept as a constant, e.g. PII_WITHOUT_CONSENT)."""
    found: dict[str, set[str]] = {}
    for _, tree in _modules():
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                for target in node.targets:
                    if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                        found.setdefault(target.id, set()).add(node.value.value)
    return found


def _values(node: ast.expr, constants: dict[str, set[str]]) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.Name):
        return constants.get(node.id, set())
    return set()  # computed (a variable): checked where its value is written


def _raised_kinds() -> dict[str, set[str]]:
    constants = _constants()
    kinds: dict[str, set[str]] = {}
    for path, tree in _modules():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name not in _MAKERS:
                continue
            given = [k.value for k in node.keywords if k.arg == "kind"] or node.args[:1]
            for value in given:
                for kind in _values(value, constants):
                    kinds.setdefault(kind, set()).add(str(path.relative_to(GATEWAY)))
    return kinds


def test_every_kind_the_code_raises_is_registered() -> None:
    raised = _raised_kinds()
    assert len(raised) > 30, "the scan finds the kinds raised today"  # would pass vacuously if it broke
    unknown = {kind: sorted(where) for kind, where in raised.items() if kind not in NAMES}
    assert not unknown, f"add these to gateway/anomaly_kinds.py (and their texts): {unknown}"


def test_every_kind_read_by_name_is_registered() -> None:
    read: set[str] = set()
    for relative in _READERS:
        for node in ast.walk(ast.parse((GATEWAY / relative).read_text())):
            if isinstance(node, ast.Compare) and ast.unparse(node.left).endswith("kind"):
                read |= {str(c.value) for c in node.comparators if isinstance(c, ast.Constant)}
    assert read and read <= set(NAMES), sorted(read - set(NAMES))

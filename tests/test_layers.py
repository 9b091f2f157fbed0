"""The packages of gateway/ form layers that point one way: a module imports only from its layer or below.

Reading the code top-down follows the flow (README "How it works"): the wire contract and the domain
vocabulary at the bottom, then the pipeline stages, the ClickHouse adapters, the shipper and the front
doors, the service that wires them, the read side, and the doors people use at the top. An import that
points up is a cycle waiting to happen; the few that remain are listed below, each with where it belongs,
and the list may only shrink.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

GATEWAY = Path(__file__).resolve().parent.parent / "gateway"

# Lowest first. A top-level module (gateway/errors.py) is a package of its own here.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"wire", "errors", "settings", "anomaly_kinds", "i18n", "process_name"}),  # vocabulary
    frozenset({"devices", "codes", "security", "auth"}),  # domain rules, no I/O but files
    frozenset({"ingest"}),  # the pipeline stages and the journal
    frozenset({"storage"}),  # ClickHouse: client, migrations, rows, stores
    frozenset({"shipping", "cluster", "ofd", "export"}),  # to ClickHouse, cluster loops, OFD door, exports
    frozenset({"service"}),  # one gateway process wired together
    frozenset({"observability", "query"}),  # metrics and the read side
    frozenset({"web", "http", "cli", "bench"}),  # the doors people and tools use
)

# Imports that still point up: (importing module, imported package) -> where the importer belongs.
KNOWN_UPWARD = {
    ("gateway.security.audit", "storage"): "writes the audit table: a storage store",
    ("gateway.security.device_keys", "storage"): "loading keys is storage's; the rotation rule stays",
    ("gateway.security.pii_erasure", "ingest"): "`pii forget` rewrites the journal: a tool above shipping",
    ("gateway.security.pii_erasure", "shipping"): "as above",
    ("gateway.ofd.server", "observability"): "LATENCY_BUCKETS: the OFD door's histogram belongs to metrics",
}
# Packages of one layer that import each other (a cycle the layers cannot see), with where it should go.
KNOWN_CYCLES = {
    ("bench", "cli"): "bench.servers starts gateways through cli.serve: the start belongs to service",
}


def _layer(package: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if package in layer)


def _package(module: str) -> str:
    return module.split(".")[1]


def _imports(tree: ast.Module) -> Iterator[str]:
    """Modules imported at run time (imports under `if TYPE_CHECKING:` are for the type checker only)."""
    nodes: list[ast.AST] = list(tree.body)
    while nodes:
        node = nodes.pop()
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            nodes.extend(node.orelse)
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "gateway":
                yield from (f"gateway.{alias.name}" for alias in node.names)
            elif node.module.startswith("gateway."):
                yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.startswith("gateway."))
        nodes.extend(ast.iter_child_nodes(node))


def _edges() -> dict[tuple[str, str], str]:
    """(importing module, imported package) -> where, for every import across packages."""
    found = {}
    for path in sorted(GATEWAY.rglob("*.py")):
        parts = path.relative_to(GATEWAY.parent).with_suffix("").parts
        module = ".".join(parts).removesuffix(".__init__")
        if len(parts) < 2 or module == "gateway":
            continue
        for imported in _imports(ast.parse(path.read_text())):
            if _package(imported) != _package(module):
                found[(module, _package(imported))] = f"{path.relative_to(GATEWAY.parent)} imports {imported}"
    return found


def _upward_imports() -> dict[tuple[str, str], str]:
    return {
        (module, package): where for (module, package), where in _edges().items()
        if _layer(package) > _layer(_package(module))
    }


def _cycles() -> set[tuple[str, str]]:
    pairs = {(_package(module), package) for module, package in _edges()}
    # Across layers one of the two imports points up (KNOWN_UPWARD); within one, only this sees them.
    return {(a, b) for a, b in pairs if (b, a) in pairs and a < b and _layer(a) == _layer(b)}


def test_every_package_has_a_layer() -> None:
    packages = {p.stem for p in GATEWAY.iterdir() if (p.suffix == ".py" or p.is_dir()) and p.stem[0] != "_"}
    assert packages - {"__pycache__"} == set().union(*LAYERS), "add the new package to LAYERS"


def test_imports_point_down_the_layers() -> None:
    upward = _upward_imports()
    new = {key: where for key, where in upward.items() if key not in KNOWN_UPWARD}
    assert not new, f"imports that point up a layer (move the code, or the import): {sorted(new.values())}"


def test_the_list_of_upward_imports_only_shrinks() -> None:
    gone = set(KNOWN_UPWARD) - set(_upward_imports())
    assert not gone, f"fixed, so drop them from KNOWN_UPWARD: {sorted(gone)}"


def test_no_two_packages_import_each_other() -> None:
    assert _cycles() == set(KNOWN_CYCLES), "packages import each other: move the code that closes the cycle"

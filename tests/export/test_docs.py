"""docs/export.md, the specification, names every field and every check exactly as the code defines them."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.export.format import FIELDS
from gateway.export.report import CHECKS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "export.md").read_text()
_ROW = re.compile(r"^\| `([a-z0-9_-]+)` \| (.+?) \|(?: (integrity|content) \|)?$", re.MULTILINE)


def _section(title: str) -> str:
    start = DOC.index(f"\n### {title}\n")
    end = DOC.find("\n#", start + 1)
    return DOC[start:end]


def test_every_record_field_is_documented_in_order() -> None:
    for record, fields in FIELDS.items():
        documented = [m.group(1) for m in _ROW.finditer(_section(record))]
        assert documented == list(fields), record


def test_every_check_is_documented_with_what_it_proves() -> None:
    table = DOC[DOC.index("| check | proves | kind |") :]
    rows = {m.group(1): (m.group(2).replace("`", ""), m.group(3)) for m in _ROW.finditer(table)}
    assert rows == {
        name: (check.proves, "content" if check.content else "integrity") for name, check in CHECKS.items()
    }

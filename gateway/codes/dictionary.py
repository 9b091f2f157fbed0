"""Derives the package's AI table (`ai_table.py`) from the GS1 Barcode Syntax Dictionary text file.

Run `python -m gateway.codes.dictionary [DICTIONARY] [OUTPUT]` to regenerate; by default it reads
`../shared/data/gs1/gs1-syntax-dictionary.txt` next to the repository and writes the committed table.
"""

from __future__ import annotations

import sys
from pathlib import Path

from gateway.codes.table_types import AiEntry, Component

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DICTIONARY = REPO_ROOT.parent / "shared" / "data" / "gs1" / "gs1-syntax-dictionary.txt"
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "ai_table.py"
_FLAG_CHARS = set("*!?\"$%&'()+,-./:;<=>@[\\]^_`{|}~")


def _parse_component(token: str) -> Component:
    """One component such as `N14,csum`, `X..20`, `[N3],iso3166` or `[X..17]`."""
    optional = token.startswith("[")
    if optional:
        close = token.index("]")
        type_part, rest = token[1:close], token[close + 1:]
        linters = tuple(x for x in rest.split(",") if x)
    else:
        type_part, *linter_list = token.split(",")
        linters = tuple(linter_list)
    kind = type_part[0]
    if kind not in "NXYZ":
        raise ValueError(f"unknown component type in {token!r}")
    length = type_part[1:]
    if length.startswith(".."):
        min_len, max_len = 1, int(length[2:])
    else:
        min_len = max_len = int(length)
    return (kind, min_len, max_len, optional, linters)


def _expand_ais(ai_field: str) -> list[str]:
    """`3100-3105` → ['3100', …, '3105']; a solitary AI → [AI]."""
    if "-" not in ai_field:
        return [ai_field]
    first, last = ai_field.split("-")
    width = len(first)
    return [str(n).zfill(width) for n in range(int(first), int(last) + 1)]


def parse_dictionary(text: str) -> dict[str, AiEntry]:
    """Every assigned AI of the dictionary text, ranges expanded, in lexical order."""
    table: dict[str, AiEntry] = {}
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        body, _, title = line.partition("#")
        tokens = body.split()
        ai_field, rest = tokens[0], tokens[1:]
        flags = ""
        if rest and all(ch in _FLAG_CHARS for ch in rest[0]):
            flags, rest = rest[0], rest[1:]
        components: list[Component] = []
        req: list[tuple[str, ...]] = []
        ex: list[str] = []
        dlpkey: list[tuple[str, ...]] | None = None
        for token in rest:
            if token.startswith("req="):
                req.extend(tuple(group.split("+")) for group in token[4:].split(","))
            elif token.startswith("ex="):
                ex.extend(token[3:].split(","))
            elif token == "dlpkey":
                dlpkey = [()]
            elif token.startswith("dlpkey="):
                dlpkey = [tuple(alt.split(",")) for alt in token[7:].split("|")]
            elif "=" in token or (token.isalpha() and token.islower()):
                continue  # attributes this project does not use
            else:
                components.append(_parse_component(token))
        entry: AiEntry = (
            "*" in flags, "?" in flags, tuple(components), tuple(req), tuple(ex),
            tuple(dlpkey) if dlpkey is not None else None, title.strip(),
        )
        for ai in _expand_ais(ai_field):
            table[ai] = entry
    return dict(sorted(table.items()))


def render_table(table: dict[str, AiEntry], source_name: str) -> str:
    """The Python source of `ai_table.py` for a parsed dictionary."""
    lines = [
        f'"""GS1 AI table generated from {source_name} by gateway.codes.dictionary: do not edit."""',
        "",
        "# ruff: noqa: E501",
        "from __future__ import annotations",
        "",
        "from gateway.codes.table_types import AiEntry",
        "",
        "# AI: (fixed_length, dl_attribute, components (kind, min, max, optional, linters),",
        "#      req groups, ex patterns, dlpkey alternatives, title)",
        "AI_TABLE: dict[str, AiEntry] = {",
    ]
    lines.extend(f"    {ai!r}: {entry!r}," for ai, entry in table.items())
    lines.append("}")
    return "\n".join(lines) + "\n"


def generate(dictionary: Path = DEFAULT_DICTIONARY) -> str:
    """Read the dictionary file and return the table module's source."""
    return render_table(parse_dictionary(dictionary.read_text(encoding="utf-8")), dictionary.name)


def main(argv: list[str]) -> int:
    """Regenerate the committed table (args: [dictionary] [output])."""
    source = Path(argv[0]) if argv else DEFAULT_DICTIONARY
    output = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUTPUT
    output.write_text(generate(source), encoding="utf-8")
    print(f"wrote {output} from {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

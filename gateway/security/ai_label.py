"""The machine-readable "made with AI" label of a receipt line: `ai/1;src=<type>[;tool=…][;by=…]`.

The law requires goods made with AI to carry a machine-readable label but fixes no format. This one is a
short ASCII string a register can print in a QR code and a cashier can read: a version tag, then
`key=value` pairs separated by `;`. `src` (required) is an IPTC "digital source type" term, the vocabulary
C2PA and news agencies already use for AI-made media; `tool` names the model or product, `by` who made the
goods (a TIN or a name). Keys are lowercase letters (`x-…` for private extensions), appear once, and values
use `[A-Za-z0-9._:/+-]`, 1–64 characters, so the label cannot smuggle separators or markup. See
docs/security.md (AI-generated goods).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

VERSION_TAG = "ai/1"
MAX_LABEL_CHARS = 256
SOURCE_TYPES = frozenset(
    {
        "trainedAlgorithmicMedia",  # made by a generative model
        "compositeWithTrainedAlgorithmicMedia",  # human work with generated parts
        "algorithmicMedia",  # made by an algorithm without training data
        "compositeSynthetic",
    }
)
KNOWN_KEYS = frozenset({"src", "tool", "by"})
# Matched whole (fullmatch): "$" would also match before a final newline and let one through.
_KEY = re.compile(r"[a-z]{1,16}|x-[a-z0-9-]{1,30}")
_VALUE = re.compile(r"[A-Za-z0-9._:/+-]{1,64}")


@dataclass(frozen=True)
class AiLabel:
    """A parsed, valid label."""

    source: str
    tool: str = ""
    by: str = ""


class BadAiLabel(ValueError):
    """Why a label is malformed (the text never quotes the label itself)."""


def parse_ai_label(raw: str) -> AiLabel:
    """Parse and validate a label; raises BadAiLabel."""
    if len(raw) > MAX_LABEL_CHARS:
        raise BadAiLabel(f"longer than {MAX_LABEL_CHARS} characters")
    head, _, rest = raw.partition(";")
    if head != VERSION_TAG:
        raise BadAiLabel(f"does not start with {VERSION_TAG};")
    pairs: dict[str, str] = {}
    for part in rest.split(";") if rest else []:
        key, sep, value = part.partition("=")
        if not sep or not _KEY.fullmatch(key):
            raise BadAiLabel("a part is not key=value with a lowercase key")
        if key in pairs:
            raise BadAiLabel(f"key {key} appears twice")
        if not key.startswith("x-") and key not in KNOWN_KEYS:
            raise BadAiLabel(f"unknown key {key} (private keys start with x-)")
        if not _VALUE.fullmatch(value):
            raise BadAiLabel(
                f"the value of {key} is empty, too long or has characters outside [A-Za-z0-9._:/+-]"
            )
        pairs[key] = value
    source = pairs.get("src", "")
    if source not in SOURCE_TYPES:
        raise BadAiLabel("src is missing or not an IPTC digital source type")
    return AiLabel(source, pairs.get("tool", ""), pairs.get("by", ""))


def ai_source_of(raw: str) -> str:
    """The label's source type if it is valid, else "" (what receipt_lines.ai_source stores)."""
    if not raw:
        return ""
    try:
        return parse_ai_label(raw).source
    except BadAiLabel:
        return ""

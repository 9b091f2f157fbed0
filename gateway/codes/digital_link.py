"""Reads a GS1 Digital Link URI (`https://host/…/01/<gtin>/21/<serial>?17=…`) into (AI, value) pairs."""

from __future__ import annotations

from urllib.parse import unquote

from gateway.codes.specs import SPECS, InvalidCode, check_value

_GTIN_SHORT_LENGTHS = (8, 12, 13)


def is_digital_link(data: str) -> bool:
    """Whether the data is an http(s) URI (scheme case-insensitive)."""
    head = data[:8].lower()
    return head.startswith(("http://", "https://"))


def _bad(detail: str) -> InvalidCode:
    return InvalidCode("bad_digital_link", detail)


def _qualifiers_in_order(primary: str, qualifiers: list[str]) -> bool:
    alternatives = SPECS[primary].dlpkey or ((),)
    for order in alternatives:
        pos = 0
        for ai in qualifiers:
            while pos < len(order) and order[pos] != ai:
                pos += 1
            if pos == len(order):
                break
            pos += 1
        else:
            return True
    return False


def split_digital_link(uri: str) -> list[tuple[str, str]]:
    """Pairs of (AI, value): path primary key and qualifiers, then numeric query attributes."""
    rest = uri.split("://", 1)[1].split("#", 1)[0]
    path_and_query = rest.split("?", 1)
    slash = path_and_query[0].find("/")
    if slash == -1:
        raise _bad("no path after the host")
    segments = path_and_query[0][slash + 1:].split("/")
    if segments and segments[-1] == "":
        segments.pop()  # one trailing slash is harmless
    # Read (AI, value) pairs from the right until the primary key; anything left of it is a path prefix.
    path_pairs: list[tuple[str, str]] = []
    end = len(segments)
    primary: str | None = None
    while end >= 2:
        key, value = segments[end - 2], segments[end - 1]
        spec = SPECS.get(key)
        if spec is None:
            break
        path_pairs.append((key, unquote(value)))
        end -= 2
        if spec.dlpkey is not None:
            primary = key
            break
    if primary is None:
        raise _bad("no GS1 primary key (such as /01/<gtin>) in the path")
    path_pairs.reverse()
    qualifiers = [ai for ai, _ in path_pairs[1:]]
    if not _qualifiers_in_order(primary, qualifiers):
        raise _bad(f"path qualifiers {'/'.join(qualifiers)} are not allowed after ({primary}) in this order")
    if primary == "01" and len(path_pairs[0][1]) in _GTIN_SHORT_LENGTHS and path_pairs[0][1].isdigit():
        path_pairs[0] = ("01", path_pairs[0][1].zfill(14))  # GTIN-8/12/13 are written unpadded in URIs
    pairs = path_pairs
    if len(path_and_query) == 2:
        for item in path_and_query[1].split("&"):
            key, _, value = item.partition("=")
            if not key.isdigit():
                continue  # non-AI parameters such as linkType are not data
            spec = SPECS.get(key)
            if spec is None:
                raise InvalidCode("unknown_ai", f"query parameter {key!r} is not a GS1 AI")
            if not spec.dl_attribute:
                raise _bad(f"AI ({key}) may not be a Digital Link data attribute")
            pairs.append((key, unquote(value)))
    for ai, value in pairs:
        check_value(SPECS[ai], value)
    return pairs

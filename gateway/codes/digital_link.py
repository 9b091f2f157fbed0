"""Reads a GS1 Digital Link URI (`https://host/…/01/<gtin>/21/<serial>?17=…`) into (AI, value) pairs.

The grammar is the GS1 Digital Link URI Syntax standard's, decided the way GS1's own Barcode Syntax Engine
decides it (the conformance tool the standard names); docs/marking-codes.md lists every rule and where the
engine is stricter than the 1.2 ABNF (zero-suppressed GTINs and convenience alphas, both deprecated).
"""

from __future__ import annotations

from gateway.codes.specs import SPECS, InvalidCode, check_value

# RFC 3986 unreserved and reserved characters plus '%': nothing else may appear anywhere in the URI.
_URI_CHARS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;=%"
)
# URI characters that cannot be part of a host and port (user info, delimiters, percent-escapes).
_BAD_DOMAIN_CHARS = frozenset("_~?#@!$&'()*+,;=%")
# Lower or upper case, never mixed (the standard's examples and GS1's engine).
_SCHEMES = ("https://", "http://", "HTTPS://", "HTTP://")
_HEX = frozenset("0123456789ABCDEFabcdef")
_ZERO_SUPPRESSED_GTIN_LENGTHS = (8, 12, 13)
# The short names of version 1.0/1.1 (`/gtin/…`), withdrawn since 1.2: only used to say what to write.
_CONVENIENCE_ALPHAS = {
    "gtin": "01", "itip": "8006", "cpv": "22", "lot": "10", "ser": "21", "sscc": "00", "gln": "414",
    "glnx": "254", "party": "417", "gsrn": "8018", "gsrnp": "8017", "srin": "8019", "gdti": "253",
    "gcn": "255", "ginc": "401", "gsin": "402", "grai": "8003", "giai": "8004", "cpid": "8010",
    "cpsn": "8011", "gmn": "8013", "refno": "8020",
}


def is_digital_link(data: str) -> bool:
    """Whether the data is meant as an http(s) URI (scheme in any case: a mixed case is then refused)."""
    head = data[:8].lower()
    return head.startswith(("http://", "https://"))


def _bad(detail: str) -> InvalidCode:
    return InvalidCode("bad_digital_link", detail)


def _unescape(raw: str, in_query: bool) -> str:
    """Percent-decoding as the standard's engine does it: `%hh` is one byte (one character here, so a
    non-ASCII byte stays visible to the character-set check), any other '%' is itself; in the query
    '+' is a space (HTML form encoding), in the path it is '+'."""
    if in_query and "+" in raw:
        raw = raw.replace("+", " ")
    if "%" not in raw:
        return raw
    head, *rest = raw.split("%")
    parts = [head]
    for part in rest:
        if len(part) >= 2 and part[0] in _HEX and part[1] in _HEX:
            parts.append(chr(int(part[:2], 16)) + part[2:])
        else:
            parts.append("%" + part)
    return "".join(parts)


# Primary key → every AI that may qualify it in the path, whatever the order.
_KEY_QUALIFIERS = {
    ai: frozenset(q for order in spec.dlpkey for q in order) for ai, spec in SPECS.items() if spec.dlpkey
}


def _qualifiers_in_order(primary: str, qualifiers: list[str]) -> bool:
    """Whether the qualifiers are a subsequence of one of the primary key's qualifier orders."""
    for order in SPECS[primary].dlpkey or ((),):
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


def _split_uri(uri: str) -> tuple[str, str]:
    """(path, query) of a URI with an allowed scheme and host; the fragment is dropped."""
    if not _URI_CHARS.issuperset(uri):
        bad = next(ch for ch in uri if ch not in _URI_CHARS)
        raise _bad(f"{bad!r} may not appear in a URI: it must be percent-encoded")
    scheme = next((s for s in _SCHEMES if uri.startswith(s)), None)
    if scheme is None:
        raise _bad(f"scheme {uri.split('://', 1)[0]!r}: only http or https, in lower or upper case")
    rest = uri[len(scheme):]
    slash = rest.find("/")
    if slash == -1:
        raise _bad("no path after the host")
    if slash == 0:
        raise _bad("no host before the path")
    host = rest[:slash]
    if not _BAD_DOMAIN_CHARS.isdisjoint(host):
        wrong = next(ch for ch in host if ch in _BAD_DOMAIN_CHARS)
        raise _bad(f"{wrong!r} may not appear in the host {host!r}")
    path, _, query = rest[slash:].split("#", 1)[0].partition("?")
    return path, query


def _path_pairs(path: str) -> list[tuple[str, str]]:
    """The primary key and its qualifiers: /AI/value pairs read from the right up to the first primary key
    (anything left of it is the owner's own path prefix)."""
    if path.endswith("/"):
        raise _bad("the path ends with '/': nothing may follow the last path value (before '?')")
    segments = path.split("/")  # segments[0] is the empty text before the first '/'
    start = None
    i = len(segments) - 2
    while i >= 1:
        spec = SPECS.get(segments[i])
        if spec is None:
            break
        if spec.dlpkey is not None:
            start = i
            break
        i -= 2
    if start is None:
        alpha = next((s for s in segments if s in _CONVENIENCE_ALPHAS), None)
        if alpha is not None:
            raise _bad(f"'/{alpha}/' is a convenience alpha, withdrawn from GS1 Digital Link: write "
                       f"'/{_CONVENIENCE_ALPHAS[alpha]}/'")
        raise _bad("no GS1 primary key (such as /01/<gtin>) followed only by /AI/value pairs in the path")
    pairs: list[tuple[str, str]] = []
    for i in range(start, len(segments), 2):
        ai, raw = segments[i], segments[i + 1]
        if not raw:
            raise InvalidCode("empty_field", f"AI ({ai}) has an empty path segment")
        pairs.append((ai, _unescape(raw, in_query=False)))
    primary, key = pairs[0]
    if primary == "01" and len(key) in _ZERO_SUPPRESSED_GTIN_LENGTHS and key.isdigit():
        raise _bad(f"the GTIN in the path has {len(key)} digits: a Digital Link URI carries all 14 "
                   f"({key.zfill(14)}); zero-suppressed GTINs are deprecated")
    qualifiers = [ai for ai, _ in pairs[1:]]
    if not _qualifiers_in_order(primary, qualifiers):
        raise _bad(f"path qualifiers {'/'.join(qualifiers)} are not allowed after ({primary}) in this order")
    return pairs


def _query_pairs(query: str, path: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The data attributes: `AI=value` parameters; parameters whose name is not all digits carry no AI
    and are ignored, as are empty parameters and ones without '='."""
    primary = path[0][0]
    qualifiers = [ai for ai, _ in path[1:]]
    seen = {ai for ai, _ in path}
    pairs: list[tuple[str, str]] = []
    for param in query.split("&"):
        name, has_value, raw = param.partition("=")
        if not has_value:
            continue
        if not name:
            raise _bad(f"query parameter {param!r} has no name")
        if not name.isdigit():
            continue  # linkType, context … are for the resolver, not data
        spec = SPECS.get(name)
        if spec is None:
            raise InvalidCode("unknown_ai", f"query parameter {name!r} is not a GS1 AI")
        if not raw:
            raise InvalidCode("empty_field", f"query parameter {name}= has no value")
        if name in seen:
            raise _bad(f"AI ({name}) appears twice: a Digital Link URI carries each AI once")
        if not spec.dl_attribute:
            raise _bad(f"AI ({name}) may not be a Digital Link data attribute")
        if name in _KEY_QUALIFIERS[primary] and any(
            _qualifiers_in_order(primary, [*qualifiers[:i], name, *qualifiers[i:]])
            for i in range(len(qualifiers) + 1)
        ):
            raise _bad(f"AI ({name}) is a key qualifier of ({primary}): it belongs in the path, in order")
        value = _unescape(raw, in_query=True)
        if name == "01" and len(value) in _ZERO_SUPPRESSED_GTIN_LENGTHS and value.isdigit():
            value = value.zfill(14)  # a GTIN attribute may be written as GTIN-8/12/13
        seen.add(name)
        pairs.append((name, value))
    return pairs


def split_digital_link(uri: str) -> list[tuple[str, str]]:
    """Pairs of (AI, value): path primary key and qualifiers, then query attributes, every value checked."""
    path, query = _split_uri(uri)
    pairs = _path_pairs(path)
    if query:
        pairs += _query_pairs(query, pairs)
    for ai, value in pairs:
        check_value(SPECS[ai], value)
    return pairs

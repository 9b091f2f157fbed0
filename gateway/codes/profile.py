"""The marking profile: 01 + 21 + a crypto part (93, or 91 with 92), the item's cis and its product group."""

from __future__ import annotations

from gateway.codes.specs import InvalidCode

# Serial length → product group, from the operator's published shapes (domain.md): the shape tells no more.
GROUP_BY_SERIAL_LENGTH = {7: "tobacco", 13: "light_industry", 6: "dairy_water"}
TOBACCO = "tobacco"


def cis_of(gtin: str, serial: str) -> str:
    """The item's identity: 01 + GTIN + 21 + serial."""
    return "01" + gtin + "21" + serial


def _length_error(ai: str, value: str, wanted: str, minimum: int) -> InvalidCode:
    token = "truncated_crypto" if len(value) < minimum else "bad_crypto_length"
    return InvalidCode(token, f"AI ({ai}) has {len(value)} characters, needs {wanted}")


def check_crypto(ais: dict[str, str]) -> None:
    """93 of 4, or 91 of 4 plus 92 of 44 or 88; raises InvalidCode naming what is missing or cut."""
    c91, c92, c93 = ais.get("91"), ais.get("92"), ais.get("93")
    if c93 is not None and len(c93) != 4:
        raise _length_error("93", c93, "4", 4)
    if c91 is None and c92 is None:
        if c93 is None:
            raise InvalidCode("missing_crypto", "no crypto part: neither (93) nor (91)+(92)")
        return
    if c91 is None:
        raise InvalidCode("missing_crypto", "(92) without its key id (91)")
    if len(c91) != 4:
        raise _length_error("91", c91, "4", 4)
    if c92 is None:
        raise InvalidCode("missing_crypto", "(91) without its verification code (92)")
    if len(c92) not in (44, 88):
        raise _length_error("92", c92, "44 or 88", 44)

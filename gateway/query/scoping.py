"""Tenant scoping for every read: a retailer principal is forced to its own seller TIN, here and only here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway import errors
from gateway.auth.tokens import Principal
from gateway.errors import GatewayError


@dataclass(frozen=True)
class Scope:
    """Which seller TIN a query may see: one TIN, or every seller (seller_tin None; analysts and admins)."""

    seller_tin: str | None

    def where(self, column: str = "seller_tin") -> tuple[str, dict[str, Any]]:
        """A SQL condition on column and its bound parameter (`1` when every seller may be seen)."""
        if self.seller_tin is None:
            return "1", {}
        return f"{column} = {{scope_tin:String}}", {"scope_tin": self.seller_tin}


def scope_for(principal: Principal, requested_tin: str | None = None) -> Scope:
    """The scope of a query: a retailer always gets its own TIN (asking for another is forbidden)."""
    requested = (requested_tin or "").strip() or None
    if principal.is_retailer:
        if not principal.seller_tin:
            raise GatewayError(errors.FORBIDDEN, "this retailer token is bound to no seller TIN")
        if requested is not None and requested != principal.seller_tin:
            raise GatewayError(errors.FORBIDDEN, key="error.own_tin_only")
        return Scope(principal.seller_tin)
    if principal.scope not in ("admin", "analyst"):
        raise GatewayError(errors.FORBIDDEN, f"a {principal.scope} token cannot read this")
    if requested is not None and not (len(requested) == 12 and requested.isascii() and requested.isdigit()):
        # A typo would otherwise read as a seller with nothing: "no shifts closed that day".
        said = {"tin": requested[:40]}
        raise GatewayError(errors.MALFORMED_REQUEST, key="error.tin_malformed", params=said)
    return Scope(requested)


def require_tin(principal: Principal, requested_tin: str | None) -> str:
    """The one seller TIN a per-seller query runs for (a retailer's own; analysts must name one)."""
    scope = scope_for(principal, requested_tin)
    if scope.seller_tin is None:
        raise GatewayError(errors.MALFORMED_REQUEST, key="error.tin_needed")
    return scope.seller_tin

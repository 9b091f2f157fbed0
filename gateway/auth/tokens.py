"""Access tokens: issue (shown once), store as SHA-256 only, look up from an in-memory cache, revoke."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, replace
from typing import Any

from gateway import errors
from gateway.errors import GatewayError

SCOPES = ("admin", "analyst", "retailer")
ADMIN_FILE_TOKEN_ID = "admin-file"
# A hundred years: more than any token needs (omit the expiry for one that never expires), and the expiry
# stays within what a datetime and the tokens table's DateTime64 hold (1e308 days overflowed: a 500).
MAX_EXPIRES_DAYS = 36_500
# A label says who or what a token is for; a longer one is refused (a 5 MB label was stored, cut silently).
MAX_LABEL = 200
_COLUMNS = [
    "token_id",
    "token_hash",
    "scope",
    "seller_tin",
    "label",
    "created",
    "expires",
    "revoked",
    "updated_ms",
]


@dataclass(frozen=True)
class Principal:
    """Who is asking: a scope, and for a retailer the one seller TIN it may see."""

    scope: str
    seller_tin: str = ""
    token_id: str = ""
    label: str = ""

    @property
    def is_retailer(self) -> bool:
        """True for a retailer: every query is forced to its seller_tin."""
        return self.scope == "retailer"


ADMIN = Principal("admin", token_id=ADMIN_FILE_TOKEN_ID, label="admin.token file")


@dataclass(frozen=True)
class AccessToken:
    """One stored token (no secret, only its hash)."""

    token_id: str
    token_hash: str
    scope: str
    seller_tin: str
    label: str
    created_ms: int
    expires_ms: int | None
    revoked: bool

    def public(self, now_ms: int | None = None) -> dict[str, Any]:
        """The listing view: everything but the hash, plus whether it works now."""
        return {
            "token_id": self.token_id,
            "scope": self.scope,
            "seller_tin": self.seller_tin,
            "label": self.label,
            "created_ms": self.created_ms,
            "expires_ms": self.expires_ms,
            "revoked": self.revoked,
            "active": self.usable(now_ms if now_ms is not None else _now_ms()),
        }

    def usable(self, now_ms: int) -> bool:
        """Not revoked and not expired."""
        return not self.revoked and (self.expires_ms is None or now_ms < self.expires_ms)

    def principal(self) -> Principal:
        """The principal this token stands for."""
        return Principal(self.scope, self.seller_tin, self.token_id, self.label)


def _now_ms() -> int:
    return int(time.time() * 1000)


def hash_token(token: str) -> str:
    """SHA-256 hex of a token: tokens are long random strings, so a fast hash is enough."""
    return hashlib.sha256(token.strip().encode()).hexdigest()


def new_token(
    scope: str,
    seller_tin: str = "",
    *,
    expires_days: float | None = None,
    label: str = "",
    now_ms: int | None = None,
) -> tuple[str, AccessToken]:
    """A fresh token (the secret, returned once) and its stored record; validates scope and TIN."""
    if scope not in SCOPES:
        raise GatewayError(errors.MALFORMED_REQUEST, f"scope must be one of {', '.join(SCOPES)}")
    seller_tin = seller_tin.strip()
    if scope == "retailer" and not (seller_tin.isdigit() and len(seller_tin) == 12):
        raise GatewayError(errors.MALFORMED_REQUEST, "a retailer token needs --tin (12 digits)")
    if scope != "retailer" and seller_tin:
        raise GatewayError(errors.MALFORMED_REQUEST, "only retailer tokens are bound to a TIN")
    if expires_days is not None and not 0 < expires_days <= MAX_EXPIRES_DAYS:  # NaN fails it too
        refused = f"expires_days must be more than 0 and at most {MAX_EXPIRES_DAYS} (or omitted: no expiry)"
        raise GatewayError(errors.MALFORMED_REQUEST, refused)
    if len(label) > MAX_LABEL:
        raise GatewayError(errors.MALFORMED_REQUEST, f"label must be at most {MAX_LABEL} characters")
    now = _now_ms() if now_ms is None else now_ms
    token_id = secrets.token_hex(6)
    secret = f"tg_{scope[:3]}_{token_id}_{secrets.token_urlsafe(24)}"
    expires = None if expires_days is None else now + int(expires_days * 86_400_000)
    record = AccessToken(token_id, hash_token(secret), scope, seller_tin, label, now, expires, False)
    return secret, record


def _dt(ms: int | None) -> dt.datetime | None:
    return None if ms is None else dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def _ms(value: dt.datetime | None) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp() * 1000)


def save_token(client: Any, database: str, token: AccessToken) -> None:
    """Write one token version (a revocation is a newer version of the same token_id)."""
    row = [
        token.token_id,
        token.token_hash,
        token.scope,
        token.seller_tin,
        token.label,
        _dt(token.created_ms),
        _dt(token.expires_ms),
        token.revoked,
        _now_ms(),
    ]
    client.insert("access_tokens", [row], column_names=_COLUMNS, database=database)


def load_tokens(client: Any, database: str) -> list[AccessToken]:
    """Every token, newest version of each."""
    result = client.query(
        f"SELECT token_id, token_hash, scope, seller_tin, label, created, expires, revoked"
        f" FROM {database}.access_tokens FINAL ORDER BY created"
    )
    return [
        AccessToken(
            str(r[0]),
            r[1].decode() if isinstance(r[1], bytes) else str(r[1]),
            str(r[2]),
            str(r[3]),
            str(r[4]),
            _ms(r[5]) or 0,
            _ms(r[6]),
            bool(r[7]),
        )
        for r in result.result_rows
    ]


def revoke_token(tokens: list[AccessToken], token_id: str) -> AccessToken:
    """The revoked version of a token (not_found if there is none with this id)."""
    for token in tokens:
        if token.token_id == token_id:
            return replace(token, revoked=True)
    raise GatewayError(errors.NOT_FOUND, f"no token {token_id}")


class TokenCache:
    """Hash → token in memory, so checking a bearer token costs no storage call."""

    def __init__(self, admin_token: str, tokens: list[AccessToken] | None = None) -> None:
        self._admin_hash = hash_token(admin_token) if admin_token else ""
        self._by_hash: dict[str, AccessToken] = {}
        self.replace_all(tokens or [])

    def replace_all(self, tokens: list[AccessToken]) -> None:
        """Swap in a fresh set (periodic reload picks up tokens revoked on other nodes)."""
        self._by_hash = {t.token_hash: t for t in tokens}

    def put(self, token: AccessToken) -> None:
        """Add or update one token."""
        self._by_hash[token.token_hash] = token

    def all(self) -> list[AccessToken]:
        """Every cached token."""
        return sorted(self._by_hash.values(), key=lambda t: t.created_ms)

    def authenticate(self, token: str, now_ms: int | None = None) -> Principal | None:
        """The principal of a bearer token, or None if unknown, revoked or expired."""
        if not token:
            return None
        digest = hash_token(token)
        if self._admin_hash and hmac.compare_digest(digest, self._admin_hash):
            return ADMIN
        found = self._by_hash.get(digest)
        if found is None or not found.usable(_now_ms() if now_ms is None else now_ms):
            return None
        return found.principal()

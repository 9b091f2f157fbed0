"""The append-only audit log: who did which admin action to what, when and from where.

Nothing in the gateway updates or deletes `audit_log` rows; on a ClickHouse server the gateway's user
should hold INSERT and SELECT on it only (docs/security.md). Details never carry secrets or personal data:
callers pass ids and counts, not tokens or contacts.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from gateway.storage.client import Storage

COLUMNS = ["at", "principal", "action", "target", "detail", "remote", "gateway_id"]
ADMIN_FILE = "admin-file"
LOCAL_PREFIX = "local:"  # + the operating-system user, for an action taken on the data directory itself

DEVICE_ADDED = "device_added"
DEVICE_REVOKED = "device_revoked"
DEVICE_TOKEN_SET = "device_token_set"  # an OFD register given a new token
TOKEN_ISSUED = "token_issued"
TOKEN_REVOKED = "token_revoked"
REGISTRY_IMPORTED = "registry_imported"
DATA_ERASED = "data_erased"
EXPORTED = "exported"  # an audit export: whose history, by whom
ANOMALY_CASE = "anomaly_case"  # an analyst took, handed back, resolved, reopened or noted an incident


class HasTokenId(Protocol):
    """A principal (gateway.auth.tokens.Principal)."""

    @property
    def token_id(self) -> str:
        """The token's id."""


def principal_name(principal: str | HasTokenId | None) -> str:
    """The audit's "who": a token id, or admin-file for the token in the data directory."""
    if principal is None:
        return ADMIN_FILE
    return principal if isinstance(principal, str) else principal.token_id


async def record(
    storage: Storage,
    principal: str | HasTokenId | None,
    action: str,
    target: str,
    detail: str = "",
    remote: str = "",
    *,
    gateway_id: str = "",
) -> None:
    """Append one audit row (written before the action's answer, so an answered action is audited)."""
    row = [
        int(time.time() * 1000),
        principal_name(principal),
        action,
        target[:256],
        detail[:1024],
        remote[:128],
    ]
    row.append(gateway_id)
    await storage.run(lambda c: insert_row(c, storage.database, row))


def insert_row(client: Any, database: str, row: list[Any]) -> None:
    """Insert one audit row (columns as COLUMNS)."""
    client.insert("audit_log", [row], column_names=COLUMNS, database=database)


def load_audit(client: Any, database: str, since_ms: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
    """Audit rows since since_ms, oldest first."""
    sql = (
        "SELECT toUnixTimestamp64Milli(at), principal, action, target, detail, remote, gateway_id "
        f"FROM {database}.audit_log WHERE at >= fromUnixTimestamp64Milli({{since:Int64}}, 'UTC') "
        "ORDER BY at LIMIT {limit:UInt32}"
    )
    rows = client.query(sql, parameters={"since": since_ms, "limit": limit}).result_rows
    return [dict(zip(["at_ms", *COLUMNS[1:]], (int(r[0]), *map(str, r[1:])), strict=True)) for r in rows]

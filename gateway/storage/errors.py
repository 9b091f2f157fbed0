"""Classify ClickHouse / chDB errors: can a retry help, and what a user may be told (never server text)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from clickhouse_connect.driver import exceptions as ch_exceptions

from gateway import errors

_CODE_RE = re.compile(r"\bCode:\s*(\d+)")
_NAME_RE = re.compile(r"\(([A-Z][A-Z0-9_]+)\)")


@dataclass(frozen=True)
class StorageFailure:
    """What went wrong in storage, in terms the gateway can act on."""

    code: int | None
    name: str
    retryable: bool
    user_message: str


# ClickHouse error code → (name, retryable, user-safe message). Unknown codes are not retryable.
_KNOWN: dict[int, tuple[str, bool, str]] = {
    3: ("UNEXPECTED_END_OF_FILE", True, "Storage connection was interrupted."),
    32: ("ATTEMPT_TO_READ_AFTER_EOF", True, "Storage connection was interrupted."),
    60: ("UNKNOWN_TABLE", False, "Storage schema is missing a table; run `tracegate migrate`."),
    81: ("UNKNOWN_DATABASE", False, "Storage database does not exist; run `tracegate migrate`."),
    159: ("TIMEOUT_EXCEEDED", True, "Storage took too long to answer."),
    164: ("READONLY", True, "Storage is read-only at the moment."),
    202: ("TOO_MANY_SIMULTANEOUS_QUERIES", True, "Storage is busy."),
    203: ("NO_FREE_CONNECTION", True, "Storage is busy."),
    209: ("SOCKET_TIMEOUT", True, "Storage connection timed out."),
    210: ("NETWORK_ERROR", True, "Storage is unreachable."),
    241: ("MEMORY_LIMIT_EXCEEDED", True, "Storage is out of memory."),
    242: ("TABLE_IS_READ_ONLY", True, "Storage table is read-only at the moment."),
    252: ("TOO_MANY_PARTS", True, "Storage is merging; inserts are slowed down."),
    236: ("ABORTED", True, "A storage operation was aborted."),
    243: ("NOT_ENOUGH_SPACE", True, "Storage is out of disk space."),
    319: ("UNKNOWN_STATUS_OF_INSERT", True, "The outcome of an insert is unknown."),
    364: ("NETWORK_ERROR", True, "Storage is unreachable."),
    394: ("QUERY_WAS_CANCELLED", True, "A storage query was cancelled."),
    425: ("SYSTEM_ERROR", True, "Storage hit a system error."),
    439: ("CANNOT_SCHEDULE_TASK", True, "Storage is overloaded."),
    516: ("AUTHENTICATION_FAILED", False, "Storage refused the credentials."),
    999: ("KEEPER_EXCEPTION", True, "Storage coordination (Keeper) is unavailable."),
}


def classify(exc: BaseException) -> StorageFailure:
    """Map an exception raised by a storage call to a StorageFailure."""
    text = str(exc)
    code = getattr(exc, "code", None)
    if not isinstance(code, int):
        match = _CODE_RE.search(text)
        code = int(match.group(1)) if match else None
    if code is not None and code in _KNOWN:
        name, retryable, message = _KNOWN[code]
        return StorageFailure(code, name, retryable, message)
    if code is not None:
        names = _NAME_RE.findall(text)
        return StorageFailure(code, names[-1] if names else "UNKNOWN", False, "Storage rejected the request.")
    if isinstance(exc, ch_exceptions.OperationalError | ConnectionError | TimeoutError | OSError):
        return StorageFailure(None, "CONNECTION", True, "Storage is unreachable.")
    return StorageFailure(None, type(exc).__name__, False, "Storage failed unexpectedly.")


def to_gateway_error(exc: BaseException) -> errors.GatewayError:
    """The GatewayError to answer with when a storage call failed (user-safe text only)."""
    failure = classify(exc)
    if failure.retryable:
        return errors.GatewayError(errors.STORAGE_UNAVAILABLE, failure.user_message, retry_after_s=5)
    return errors.GatewayError(errors.INTERNAL, failure.user_message)

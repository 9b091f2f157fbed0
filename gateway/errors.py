"""Stable error codes: what every stage raises or returns, and the one table that maps them to HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.i18n import translate


@dataclass(frozen=True)
class ErrorCode:
    """A stable, documented error token with its HTTP status and whether a retry can help."""

    code: str
    http_status: int
    retryable: bool
    summary: str


_CODES: dict[str, ErrorCode] = {}


def _define(code: str, http_status: int, retryable: bool, summary: str) -> ErrorCode:
    error = ErrorCode(code, http_status, retryable, summary)
    _CODES[code] = error
    return error


# Request-level: the whole request is refused, nothing is journalled.
EMPTY_BODY = _define("empty_body", 400, False, "The request body is empty.")
UNSUPPORTED_MEDIA_TYPE = _define(
    "unsupported_media_type", 415, False, "Send Content-Type: application/x-protobuf."
)
# The two hard limits that protect the gateway: retryable, since the same envelopes in smaller batches pass
# (a single event larger than the body limit is the one thing a register can never upload).
BODY_TOO_LARGE = _define(
    "body_too_large", 413, True, "The request body exceeds the size limit; send fewer envelopes a request."
)
# An uploaded file (a workbook) that inflates past its limit: the same file never passes, split it.
UPLOAD_TOO_LARGE = _define(
    "upload_too_large", 413, False, "The uploaded file unpacks to more than its limit; split it."
)
MALFORMED_BATCH = _define("malformed_batch", 400, False, "The body is not a valid protobuf IngestBatch.")
TOO_MANY_ENVELOPES = _define(
    "too_many_envelopes", 413, True, "The batch has more envelopes than allowed; send smaller batches."
)
DEVICE_MISMATCH = _define(
    "device_mismatch", 400, False, "The batch holds envelopes of another device than X-Device-Id names."
)
MALFORMED_REQUEST = _define("malformed_request", 400, False, "The request is not valid.")
UNKNOWN_PARAMETER = _define(
    "unknown_parameter", 400, False,
    "The path does not take a query parameter of this name (see /v1/openapi.json).",
)
REPEATED_PARAMETER = _define(
    "repeated_parameter", 400, False, "A query parameter that takes one value was given more than once."
)
METHOD_NOT_ALLOWED = _define(
    "method_not_allowed", 405, False, "The path does not take this method (see the Allow header)."
)
BOOKS_ROW_UNREADABLE = _define(
    "books_row_unreadable", 400, False, "A row of the books file cannot be read; the detail names its line."
)
UNAUTHORIZED = _define("unauthorized", 401, False, "A valid bearer token is required.")
FORBIDDEN = _define("forbidden", 403, False, "The token does not allow this action.")
NOT_FOUND = _define("not_found", 404, False, "No such resource.")
CONFLICT = _define("conflict", 409, False, "The resource exists already.")
REQUEST_TIMEOUT = _define(
    "request_timeout", 408, True, "The request body did not arrive within the time limit."
)
BACKPRESSURE = _define(
    "backpressure", 503, True, "The gateway cannot journal more now; retry after the given delay."
)
STORAGE_UNAVAILABLE = _define("storage_unavailable", 503, True, "Storage is unavailable; retry later.")
CHAIN_MOVED = _define(
    "chain_moved", 409, True, "Another gateway node accepted this device's events meanwhile; resend them."
)
INTERNAL = _define("internal_error", 500, True, "Internal error; it has been logged.")
RATE_LIMITED = _define(
    "rate_limited", 429, True, "Too many requests; wait the Retry-After seconds and send again."
)
CLIENT_CERT_REQUIRED = _define(
    "client_cert_required", 403, False, "Device endpoints require a TLS client certificate."
)

# Event-level: one envelope is REJECTED in the ack, the others go on.
MALFORMED_ENVELOPE = _define("malformed_envelope", 400, False, "An envelope field is missing or malformed.")
FIELD_TOO_LONG = _define("field_too_long", 400, False, "An envelope's id field exceeds its limit.")
UNKNOWN_DEVICE = _define("unknown_device", 403, False, "The device is not registered.")
DEVICE_REVOKED = _define("device_revoked", 403, False, "The device (or this key) is revoked.")
INVALID_ROTATION = _define(
    "invalid_rotation", 400, False, "The key rotation names no valid P-256 key; the chain keeps its key."
)
UNKNOWN_KEY = _define("unknown_key", 403, False, "The key id is not a key of this device.")
BAD_SIGNATURE = _define("bad_signature", 403, False, "The signature does not verify over the envelope.")
CHAIN_FORK = _define(
    "chain_fork", 409, False, "Another event with this seq was accepted already (fork recorded)."
)
PREV_HASH_MISMATCH = _define(
    "prev_hash_mismatch", 409, False, "prev_hash is not the hash of the last accepted envelope."
)
SEQ_GAP = _define(
    "seq_gap", 409, True, "Events before this seq are missing; upload them first, in order."
)
HISTORY_UNAVAILABLE = _define(
    "history_unavailable",
    503,
    True,
    "This seq is older than the gateway's recent window and not yet in storage; retry later.",
)
# Pre-sale marking-code check (POST /v1/codes/check).
TOO_MANY_CODES = _define("too_many_codes", 413, False, "The check has more marking codes than allowed.")
CHECK_REPLAYED = _define(
    "check_replayed", 409, False, "This signed check was answered already; sign a new one with a fresh nonce."
)
CHECK_EXPIRED = _define(
    "check_expired", 400, False, "The check's time is too far from the gateway's clock to be answered."
)


def lookup(code: str) -> ErrorCode:
    """The ErrorCode for a token (internal_error for an unknown one)."""
    return _CODES.get(code, INTERNAL)


# No longer answered: an authentic event's content is an anomaly, never a refusal (ingest/decoding.py).
# Kept so the rejections stored before say what they meant.
_define("too_many_lines", 400, False, "The receipt had more lines than allowed (no longer refused).")
_define("malformed_event", 400, False, "The signed event bytes were not a valid Event (no longer refused).")
_define("time_in_future", 400, False, "The event time was too far in the future (no longer refused).")


def all_codes() -> list[ErrorCode]:
    """Every defined error code, for docs and tests."""
    return list(_CODES.values())


class GatewayError(Exception):
    """A domain error carrying a stable code; turned into an HTTP answer in exactly one place.

    An error a person may read names its text by catalogue key (`key`, filled from `params`): the answer
    keeps the stable code and gives the text in the reader's language; `detail` is the English text.
    """

    def __init__(
        self,
        error: ErrorCode,
        detail: str | None = None,
        *,
        retry_after_s: int | None = None,
        key: str | None = None,
        params: Mapping[str, Any] | None = None,
    ):
        self.key = key
        self.params = dict(params or {})
        detail = translate("en", key, **self.params) if key else detail
        super().__init__(detail or error.summary)
        self.error = error
        self.detail = detail or error.summary
        self.retry_after_s = retry_after_s

    def text(self, lang: str) -> str:
        """The human text in a language (the English detail when the error names no catalogue key)."""
        return translate(lang, self.key, **self.params) if self.key else self.detail

    def __str__(self) -> str:
        # The same "code: detail" the CLI prints for an error the gateway answered over HTTP.
        return f"{self.error.code}: {self.detail}"


class EnvelopeRejected(Exception):
    """One envelope is refused (the rest of the batch goes on); carries a stable event-level error code."""

    def __init__(self, error: ErrorCode, detail: str) -> None:
        super().__init__(detail)
        self.error = error
        self.detail = detail

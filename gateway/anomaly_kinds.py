"""The one list of anomaly kinds: each kind's incident family and what it is about (names are translated).

Pages, the kind picker, the API's validation, the OpenAPI enum and docs/queries.md read this list; the
sentence shown for each kind is in the message catalogues (gateway/i18n, keys `kind.<kind>`).
An incident is what an analyst works: the anomalies of one family on one line of one event (a code sold
twice in another store by a seller who does not own it is one incident with three facets).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AnomalyKind:
    """One kind: its token, the incident family it belongs to, and whether it names another seller."""

    kind: str
    family: str
    names_other_seller: bool = False


CODE, RECEIPT, SHIFT, CHAIN, UPLOAD, PRIVACY = "code", "receipt", "shift", "chain", "upload", "privacy"

KINDS: tuple[AnomalyKind, ...] = (
    AnomalyKind("code_sold_twice", CODE, names_other_seller=True),
    AnomalyKind("code_clone", CODE, names_other_seller=True),
    AnomalyKind("code_not_owner", CODE, names_other_seller=True),
    AnomalyKind("code_unknown", CODE),
    AnomalyKind("code_blocked", CODE),
    AnomalyKind("code_expired", CODE),
    AnomalyKind("code_not_in_circulation", CODE),
    AnomalyKind("code_invalid", CODE),
    AnomalyKind("total_mismatch", RECEIPT),
    AnomalyKind("payment_mismatch", RECEIPT),
    AnomalyKind("line_sum_mismatch", RECEIPT),
    AnomalyKind("tax_mismatch", RECEIPT),
    AnomalyKind("tax_total_mismatch", RECEIPT),
    AnomalyKind("change_exceeds_cash", RECEIPT),
    AnomalyKind("negative_amount", RECEIPT),
    AnomalyKind("bad_quantity", RECEIPT),
    AnomalyKind("empty_receipt", RECEIPT),
    AnomalyKind("unknown_operation", RECEIPT),
    AnomalyKind("missing_parent", RECEIPT),
    AnomalyKind("bad_ai_label", RECEIPT),
    AnomalyKind("bad_amount", RECEIPT),
    AnomalyKind("bad_time", RECEIPT),
    AnomalyKind("shift_receipts_mismatch", SHIFT),
    AnomalyKind("shift_count_mismatch", SHIFT),
    AnomalyKind("shift_payment_mismatch", SHIFT),
    AnomalyKind("shift_document_range_mismatch", SHIFT),
    AnomalyKind("chain_fork", CHAIN),
    AnomalyKind("gap_notice", CHAIN),
    AnomalyKind("bad_gap_notice", CHAIN),
    AnomalyKind("late_upload", UPLOAD),
    AnomalyKind("pii_without_consent", PRIVACY),
)
BY_NAME = {k.kind: k for k in KINDS}
NAMES = tuple(BY_NAME)
FAMILIES = tuple(dict.fromkeys(k.family for k in KINDS))


def family_of(kind: str) -> str:
    """The incident family of a kind (an unknown kind, e.g. from a newer gateway, is its own family)."""
    known = BY_NAME.get(kind)
    return known.family if known is not None else kind

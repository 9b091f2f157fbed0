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
CONTENT = "content"  # an authentic event over the limits, or with a clock ahead: stored all the same

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
    AnomalyKind("storno_unmatched", RECEIPT),
    AnomalyKind("same_taxpayer_and_customer", RECEIPT),
    AnomalyKind("parent_register_unknown", RECEIPT),
    AnomalyKind("cancel_without_receipt", RECEIPT),
    AnomalyKind("shift_receipts_mismatch", SHIFT),
    AnomalyKind("shift_count_mismatch", SHIFT),
    AnomalyKind("shift_payment_mismatch", SHIFT),
    AnomalyKind("shift_document_range_mismatch", SHIFT),
    AnomalyKind("shift_not_closed", SHIFT),
    AnomalyKind("shift_out_of_order", SHIFT),
    AnomalyKind("shift_closed_twice", SHIFT),
    AnomalyKind("z_report_mismatch", SHIFT),
    AnomalyKind("z_report_missing", SHIFT),
    AnomalyKind("cash_short", SHIFT),
    AnomalyKind("chain_fork", CHAIN),
    AnomalyKind("gap_notice", CHAIN),
    AnomalyKind("bad_gap_notice", CHAIN),
    AnomalyKind("double_acceptance", CHAIN),
    AnomalyKind("signed_after_compromise", CHAIN),
    AnomalyKind("late_upload", UPLOAD),
    AnomalyKind("clock_skew", CONTENT),
    AnomalyKind("oversize_event", CONTENT),
    AnomalyKind("too_many_lines", CONTENT),
    AnomalyKind("too_many_codes", CONTENT),
    AnomalyKind("field_too_long", CONTENT),
    AnomalyKind("undecodable_event", CONTENT),
    AnomalyKind("empty_event", CONTENT),
    AnomalyKind("ofd_field_truncated", CONTENT),
    AnomalyKind("ofd_item_malformed", CONTENT),
    AnomalyKind("pii_without_consent", PRIVACY),
)
BY_NAME = {k.kind: k for k in KINDS}
NAMES = tuple(BY_NAME)
FAMILIES = tuple(dict.fromkeys(k.family for k in KINDS))


def family_of(kind: str) -> str:
    """The incident family of a kind (an unknown kind, e.g. from a newer gateway, is its own family)."""
    known = BY_NAME.get(kind)
    return known.family if known is not None else kind

"""An anomaly's sentence, written for its reader: in their language, naming another seller only to staff.

An anomaly row keeps another seller's TIN and store in columns of its own (migration 0015) and its facts
as JSON; the stored English `detail` is never shown to a retailer. A retailer reads "another seller"
where an analyst reads the TIN, and its own store by name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from gateway.anomaly_kinds import BY_NAME
from gateway.auth.tokens import Principal
from gateway.i18n import date_text, money, operation_text, translate

HOUR_MS = 3_600_000
# Kinds whose stored detail says no more than their name does.
_MEANING_ONLY = frozenset(("code_unknown", "code_blocked", "pii_without_consent", "empty_receipt"))
# Stored English details that carry figures a reader needs, read back so they are said in the reader's
# language (the writers: ingest/receipt_validation.py, ingest/chain.py). Amounts are minor units, said
# as tenge (_MONEY); a tax rate in basis points as a percentage; a quantity in thousandths as units.
_FIGURES = {
    "clock_skew": re.compile(
        r"event time is (?P<ahead>\d+) s ahead of the gateway, the allowed skew is (?P<allowed>\d+) s"
    ),
    "chain_fork": re.compile(
        r"seq (?P<seq>\d+) was accepted with hash (?P<hash>[0-9a-f]{12})[0-9a-f]*,"
        r" this one is (?P<other>[0-9a-f]{12})"
    ),
    "line_sum_mismatch": re.compile(r"line sum (?P<sum>-?\d+), computed (?P<computed>-?\d+)"),
    "total_mismatch": re.compile(
        r"total (?P<total>-?\d+), sum of lines(?: - discount \+ markup)? (?P<due>-?\d+)"
    ),
    "payment_mismatch": re.compile(
        r"payments (?P<paid>-?\d+) - change (?P<change>-?\d+) != total (?P<total>-?\d+)"
    ),
    "change_exceeds_cash": re.compile(r"change (?P<change>-?\d+) exceeds the cash paid (?P<cash>-?\d+)"),
    "storno_unmatched": re.compile(
        r"storno of (?P<sum>-?\d+): the receipt's lines of that name hold (?P<held>-?\d+)"
    ),
    "tax_mismatch": re.compile(
        r"tax \d+ at (?P<rate>\d+) bp is (?P<sum>-?\d+), computed (?P<computed>-?\d+)"
    ),
    "tax_total_mismatch": re.compile(
        r"tax \d+ at (?P<rate>\d+) bp: receipt says (?P<stated>-?\d+), lines add up to (?P<lines>-?\d+)"
    ),
    "bad_quantity": re.compile(r"quantity (?P<quantity>-?\d+) \(thousandths\) is not positive"),
    "shift_count_mismatch": re.compile(
        r"receipt_count (?P<count>\d+), per-operation counts add up to (?P<counted>\d+)"
    ),
    "shift_payment_mismatch": re.compile(
        r"operation (?P<operation>\w+): payments (?P<paid>-?\d+), sum (?P<sum>-?\d+)"
    ),
    "shift_document_range_mismatch": re.compile(
        r"documents (?P<first>\d+)\.\.(?P<last>\d+) cannot hold (?P<count>\d+) receipts"
    ),
    # The OFD door's (ofd/counters.py, ofd/dispatch.py, ofd/documents.py) and cash movements'.
    "cash_short": re.compile(r"withdrawal of (?P<sum>-?\d+) from a drawer holding (?P<held>-?\d+)"),
    "shift_closed_twice": re.compile(r"shift (?P<shift>\d+) was closed before"),
    "shift_not_closed": re.compile(r"shift (?P<shift>\d+) was never closed"),
    "shift_out_of_order": re.compile(
        r"a document of shift (?P<claimed>\d+) after shift (?P<current>\d+) opened"
    ),
    "parent_register_unknown": re.compile(
        r"the return names a sale on register (?P<register>.*), unknown to"
    ),
    "bad_amount": re.compile(r"cash movement of kind (?P<movement>\d+) and sum (?P<sum>-?\d+)"),
    "bad_time": re.compile(r"event time (?P<time>-?\d+) ms is not a real time"),
}
# A Z-report's differences from the gateway's counts (ofd/counters.py z_differences), "; "-joined: each
# part is said on its own, as text.z_report_mismatch.<part>.
_Z_PARTS = (
    ("operation", re.compile(
        r"(?P<operation>\w+): register (?P<count>\d+) receipts (?P<total>-?\d+),"
        r" gateway (?P<our_count>\d+) receipts (?P<our_total>-?\d+)"
    )),
    ("cash", re.compile(r"cash: register (?P<theirs>-?\d+), gateway (?P<ours>-?\d+)")),
    ("placement", re.compile(
        r"money placement (?P<placement>\d+): register (?P<theirs>-?\d+), gateway (?P<ours>-?\d+)"
    )),
)
# Details that are one fixed sentence (ingest/receipt_validation.py, ofd/dispatch.py): their text.* key.
_FIXED = {
    ("negative_amount", "price, discount and markup must not be negative"): "negative_amount.line",
    ("negative_amount", "the receipt's discount and markup must not be negative"): "negative_amount.receipt",
    ("negative_amount", "payments and change must not be negative"): "negative_amount.payments",
    ("missing_parent", "a return must name the sale it refers to (parent)"): "missing_parent",
    ("unknown_operation", "the receipt's operation is unspecified"): "unknown_operation",
    ("cancel_without_receipt", "CANCEL_TICKET with no receipt of this shift left to annul"): (
        "cancel_without_receipt"
    ),
    ("z_report_missing", "the register sent no Z report: the gateway's counters of the shift stand in"): (
        "z_report_missing"
    ),
    ("same_taxpayer_and_customer", "an offline receipt whose buyer IIN/BIN is the seller's"): (
        "same_taxpayer_and_customer"
    ),
}
_MONEY = frozenset((
    "sum", "computed", "total", "due", "paid", "change", "cash", "held", "stated", "lines", "our_total",
    "theirs", "ours",
))
# Cash movement kinds as cash.* of the catalogues: OFD's MoneyPlacement numbers, and our CashMovement.Kind.
_PLACEMENTS = {"0": "deposit", "1": "withdrawal"}
_MOVEMENTS = {"0": "unspecified", "1": "deposit", "2": "withdrawal"}


def _figure(name: str, value: str, lang: str) -> str:
    """One figure of a detail as its reader writes it."""
    if name in _MONEY:
        return money(int(value), lang)
    if name in ("rate", "quantity"):  # basis points as a percentage; thousandths as units (exactly)
        places = 2 if name == "rate" else 3
        whole, part = divmod(abs(int(value)), 10**places)
        number = ("-" if value.startswith("-") else "") + f"{whole}.{part:0{places}d}".rstrip("0").rstrip(".")
        return number if lang == "en" else number.replace(".", ",")
    if name == "operation":
        return operation_text(value, lang)
    kinds = _PLACEMENTS if name == "placement" else _MOVEMENTS if name == "movement" else {}
    if value in kinds:
        return translate(lang, f"cash.{kinds[value]}")
    if name == "register" and value == "(none)":
        return "—"
    return value


def _with_figures(key: str, figures: re.Match[str], lang: str) -> str:
    """A text.* sentence with a detail's figures said as its reader writes them."""
    said = {name: _figure(name, value, lang) for name, value in figures.groupdict().items()}
    return translate(lang, key, **said)


def _said(kind: str, detail: str, lang: str) -> str | None:
    """A stored English detail said in the reader's language; None when its wording is not one known here."""
    fixed = _FIXED.get((kind, detail))
    if fixed:
        return translate(lang, f"text.{fixed}")
    if kind == "z_report_mismatch" and detail:
        said = []
        for part in detail.split("; "):
            found = next(((name, m) for name, pattern in _Z_PARTS if (m := pattern.fullmatch(part))), None)
            if found is None:
                return None
            said.append(_with_figures(f"text.z_report_mismatch.{found[0]}", found[1], lang))
        return "; ".join(said)
    figures = _FIGURES[kind].match(detail) if kind in _FIGURES else None
    return _with_figures(f"text.{kind}", figures, lang) if figures else None


@dataclass(frozen=True)
class Reader:
    """Who reads: the seller TIN a retailer is bound to (None for staff), and a language."""

    seller_tin: str | None
    lang: str = "en"

    @staticmethod
    def of(principal: Principal, lang: str = "en") -> Reader:
        """The reader a principal is (a retailer: its TIN; staff: None)."""
        return Reader(principal.seller_tin if principal.is_retailer else None, lang)

    @property
    def is_staff(self) -> bool:
        """Analysts and admins see every seller."""
        return self.seller_tin is None


def facts_of(raw: str) -> dict[str, Any]:
    """The facts JSON of a row ({} when empty or not an object)."""
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _other(reader: Reader, kind: str, other_tin: str, other_store: str, detail: str) -> str:
    """The sentence of a kind that names another seller (sold twice, clone, not owner)."""
    t = reader.lang
    if not other_tin:  # a row from before migration 0015 (its detail may name the seller) or the registry
        if reader.is_staff and detail:
            return detail
        return translate(t, f"text.{kind}.earlier")
    if reader.is_staff:
        return translate(t, f"text.{kind}.other", seller=other_tin, store=other_store)
    if other_tin == reader.seller_tin:
        return translate(t, f"text.{kind}.own", store=other_store)
    return translate(t, f"text.{kind}.another")


def sentence(
    reader: Reader,
    kind: str,
    *,
    detail: str = "",
    other_seller_tin: str = "",
    other_store_id: str = "",
    facts: str = "",
    event_ms: int = 0,
    detected_ms: int = 0,
) -> str:
    """What this anomaly means, in plain words for this reader."""
    lang = reader.lang
    known = BY_NAME.get(kind)
    if known is not None and known.names_other_seller:
        if kind == "code_sold_twice" and facts_of(facts).get("registry_status") == "retired":
            return translate(lang, "text.code_sold_twice.registry")
        return _other(reader, kind, other_seller_tin, other_store_id, detail)
    f = facts_of(facts)
    if kind == "code_expired" and "expires_on" in f:
        return translate(lang, "text.code_expired", date=date_text(str(f["expires_on"]), lang))
    if kind == "code_not_in_circulation" and "registry_status" in f:
        status = translate(lang, f"registry_status.{f['registry_status']}")
        return translate(lang, "text.code_not_in_circulation", status=status)
    if kind == "late_upload" and event_ms and detected_ms:
        return translate(lang, "text.late_upload", hours=(detected_ms - event_ms) // HOUR_MS)
    if kind == "shift_receipts_mismatch" and f:
        return translate(
            lang,
            "text.shift_receipts_mismatch",
            shift=f.get("shift_number", "?"),
            z_count=f.get("z_receipt_count", "?"),
            z_sum=money(int(f.get("z_sell_sum", 0)), lang),
            count=f.get("receipts_count", "?"),
            sum=money(int(f.get("receipts_sell_sum", 0)), lang),
        )
    meaning = translate(lang, f"kind.{kind}") if known is not None else kind
    if kind in _MEANING_ONLY:
        return meaning
    said = _said(kind, detail, lang)
    if said:
        return f"{meaning}: {said}"
    if lang != "en":  # a detail only in English: the kind's name says it in the reader's language
        return meaning
    # Other kinds' details speak of the reader's own receipt only (numbers, lines): shown as they are.
    return f"{meaning}: {detail}" if detail and detail not in meaning else meaning

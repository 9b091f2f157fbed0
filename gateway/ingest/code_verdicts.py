"""Ingest stage: a verdict on every marking code of an accepted sale or return; anomalies; status moves.

A sale is never refused for its codes: the fiscal fact is kept, each problem becomes a verdict on the code
and a Finding (anomaly row). Verdicts are decided here, once, against the in-memory status index, and
journalled in the record (JournalRecord.code_verdicts), so the rows built later say what was decided then.

Rules (precedence of the one verdict, first that applies; every applicable anomaly is reported):
- syntax_error (GS1 validator token in error_code; anomaly code_invalid) / not_marking_code (valid GS1
  data without 01 or 21; no anomaly: the register put a plain barcode in the codes field);
- unknown: not in the registry (code_unknown);
- blocked (code_blocked); not_in_circulation: emitted, applied, withdrawn, written_off
  (code_not_in_circulation);
- already_sold: the last move was a sale, or the registry says retired and no return followed
  (code_sold_twice; code_clone too when that earlier sale was by another seller or store);
- expired: the registry's expiry date is before the day of the sale (device time) (code_expired);
- not_owner: the registry names an owner TIN and the seller's TIN differs (code_not_owner). The registry
  row is the operator's current owner of the item (the last one it was transferred to), so the owner's
  chain ends at the seller: any other seller is selling goods that were never transferred to it.
Returns get `returned` (or syntax_error / not_marking_code / unknown). Effects: a sale retires the code
(also an unknown one, so a second sale is caught), a return puts it back into circulation. Purchase
receipts (BUY, BUY_RETURN) are not sales of marked goods to consumers: their codes get no verdict.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass

from google.protobuf.internal.containers import RepeatedCompositeFieldContainer

from gateway.codes.parser import CodeResult, validate_code
from gateway.codes.status_index import CodeState, Entry, Slot, StatusIndex
from gateway.wire import pb

DAY_MS = 86_400_000
SALE, RETURN, CHECK = "sale", "return", "check"
VALID = "valid"
# A pre-sale check's verdict when it found nothing: the code may be sold (a check is not a valid sale).
MAY_SELL = "may_sell"
# Every verdict a code_events row can carry (the pages name each one: i18n verdict.*).
VERDICTS = (VALID, MAY_SELL, "syntax_error", "not_marking_code", "unknown", "blocked", "not_in_circulation",
            "already_sold", "expired", "not_owner", "returned")
NOT_MARKING_ERRORS = frozenset(("missing_gtin", "missing_serial"))
NOT_IN_CIRCULATION = frozenset(("emitted", "applied", "withdrawn", "written_off"))
KIND_OF_OPERATION = {pb.SELL: SALE, pb.SELL_RETURN: RETURN}

Undo = list[tuple[str, Entry | None, Entry]]  # (cis, entry before a move, entry the move stored)
CodeAt = tuple[int, int, str]  # (receipt line from 1, index in the line's marking_codes, raw code)


def codes_of(event: pb.Event, line_codes: list[list[str]] | None = None) -> list[CodeAt]:
    """Every marking code of a sale or return receipt, in receipt order, with where it is.

    line_codes: each line's marking codes, when the caller has them already (decoding.Decoded).
    A storno line's codes, and as many of the same codes on the receipt's other lines, are left out: the
    storno cancelled those goods within the receipt, so nothing was sold or returned.
    """
    if not event.HasField("receipt") or event.receipt.operation not in KIND_OF_OPERATION:
        return []
    lines = event.receipt.lines[:]
    if line_codes is None:
        # [:] makes lists: a loop over a upb repeated field ends in a formatted IndexError (~2,000
        # instructions).
        line_codes = [line.marking_codes[:] for line in lines]
    cancelled = _cancelled_codes(lines, line_codes)
    places = []
    for line_no, codes in enumerate(line_codes, start=1):
        if cancelled and lines[line_no - 1].storno:
            continue
        for code_index, code in enumerate(codes):
            if cancelled.get(code):
                cancelled[code] -= 1
                continue
            places.append((line_no, code_index, code))
    return places


def _cancelled_codes(lines: list[pb.ReceiptLine], line_codes: list[list[str]]) -> dict[str, int]:
    """How many times each code appears on the receipt's storno lines ({} for nearly every receipt)."""
    cancelled: dict[str, int] = {}
    for line, codes in zip(lines, line_codes, strict=True):
        if line.storno:
            for code in codes:
                cancelled[code] = cancelled.get(code, 0) + 1
    return cancelled


def parse_codes(codes: list[CodeAt]) -> dict[str, CodeResult]:
    """validate_code of every distinct code of codes_of(event) (pure: done before the chain stage)."""
    return {code: validate_code(code) for _, _, code in codes}


@dataclass(frozen=True, slots=True)
class Raised:
    """One anomaly a verdict raises: its kind, an identity-free detail, who else is involved, its facts.

    Another seller's TIN and store go in their own fields, never into detail: the queue shows them only
    to readers allowed to see that seller (gateway/query/anomaly_text.py writes the sentence per reader).
    """

    kind: str
    detail: str
    other_seller_tin: str = ""
    other_store_id: str = ""
    facts: str = ""  # JSON object of plain facts


@dataclass(frozen=True, slots=True)
class Judgement:
    """The verdict on one code and the anomalies it raises."""

    verdict: str
    findings: tuple[Raised, ...] = ()


# The judgements that carry nothing of the code itself, made once (a frozen dataclass costs ~0.5 µs each).
_VALID = Judgement(VALID)
_NOT_MARKING = Judgement("not_marking_code")
_UNKNOWN = Raised("code_unknown", "the code is not in the operator's registry")
_UNKNOWN_SALE = Judgement("unknown", (_UNKNOWN,))
_RETURNED = Judgement("returned")
_UNKNOWN_RETURN = Judgement("unknown")


def _syntax(result: CodeResult) -> Judgement | None:
    if result.ok:
        return None
    if result.error in NOT_MARKING_ERRORS:
        return _NOT_MARKING
    facts = json.dumps({"error": result.error})
    invalid = Raised("code_invalid", f"{result.error}: {result.detail}", facts=facts)
    return Judgement("syntax_error", (invalid,))


def judge_sale(result: CodeResult, state: CodeState | None, seller_tin: str, store_id: str,
               day: int) -> Judgement:
    """The verdict on selling this code now (pure; day = days since 1970 of the sale)."""
    syntax = _syntax(result)
    if syntax is not None:
        return syntax
    if state is None:  # never seen: nothing else to check
        return _UNKNOWN_SALE
    found: list[tuple[str, Raised]] = []  # (verdict, anomaly)
    if not state.known:
        found.append(("unknown", _UNKNOWN))
    if state.status == "blocked":
        found.append(("blocked", Raised("code_blocked", "the registry has blocked this code")))
    if state.status in NOT_IN_CIRCULATION:
        found.append(("not_in_circulation", Raised(
            "code_not_in_circulation", f"registry status {state.status}",
            facts=json.dumps({"registry_status": state.status}))))
    if state.sold or (state.status == "retired" and not state.returned):
        if state.sold:
            found.append(("already_sold", Raised(
                "code_sold_twice", "sold before, not returned since", state.last_seller_tin,
                state.last_store_id)))
        else:
            found.append(("already_sold", Raised(
                "code_sold_twice", "the registry says retired, not returned since",
                facts=json.dumps({"registry_status": "retired"}))))
        if state.sold and (state.last_seller_tin, state.last_store_id) != (seller_tin, store_id):
            found.append(("already_sold", Raised(
                "code_clone", "the same code was sold before by another seller or store",
                state.last_seller_tin, state.last_store_id)))
    if state.expires_day and day > state.expires_day:
        expired = (dt.date(1970, 1, 1) + dt.timedelta(days=state.expires_day)).isoformat()
        found.append(("expired", Raised(
            "code_expired", f"expired on {expired}", facts=json.dumps({"expires_on": expired}))))
    if state.known and state.owner_tin and state.owner_tin != seller_tin:
        found.append(("not_owner", Raised(
            "code_not_owner", "the registry names another owner than the seller", state.owner_tin)))
    if not found:
        return _VALID
    return Judgement(found[0][0], tuple(raised for _, raised in found))


def judge_return(result: CodeResult, state: CodeState | None) -> Judgement:
    """The verdict on a code coming back on a sale return."""
    syntax = _syntax(result)
    if syntax is not None:
        return syntax
    return _RETURNED if state is not None and state.known else _UNKNOWN_RETURN


def verdict_record(line: int, index: int, result: CodeResult, judgement: Judgement,
                   raw_code: str = "", record: pb.CodeVerdictRecord | None = None) -> pb.CodeVerdictRecord:
    """The journalled form of one verdict; record: the empty message to fill (a repeated field's add())."""
    # Field by field, the empty ones left unset (the same message): upb's keyword constructor costs twice.
    if record is None:
        record = pb.CodeVerdictRecord()
    record.line = line
    record.code_index = index
    record.verdict = judgement.verdict
    if result.cis:
        record.cis = result.cis
    if result.error:
        record.error_code = result.error
    if result.gtin:
        record.gtin = result.gtin
    if result.group:
        record.group = result.group
    if raw_code:
        record.raw_code = raw_code
    return record


@dataclass(frozen=True, slots=True)
class CheckAnswer:
    """A pre-sale check's answer on one code."""

    code: str
    result: CodeResult
    judgement: Judgement

    @property
    def may_sell(self) -> bool:
        """May the register sell it now."""
        return self.judgement.verdict == VALID


class CodeVerdicts:
    """The stage: judges codes against the status index and moves their status; one per gateway."""

    def __init__(self, index: StatusIndex) -> None:
        self.index = index

    def judge_event(self, event: pb.Event, seller_tin: str, store_id: str, codes: list[CodeAt],
                    parsed: Mapping[str, CodeResult], slots: Mapping[str, Slot],
                    verdicts: RepeatedCompositeFieldContainer[pb.CodeVerdictRecord], undo: Undo,
                    ) -> list[pb.Finding]:
        """Verdicts (added to `verdicts`, the journal record's) and findings for an accepted event, status
        moves applied; each move is added to `undo` as it is made (so undo() reverses them even when this
        raises half-way).

        codes: codes_of(event); parsed: parse_codes(codes); slots: StatusIndex.locate() of their cis,
        found for the whole request at once (all three made before the chain stage, once).
        """
        kind = KIND_OF_OPERATION.get(event.receipt.operation) if event.HasField("receipt") else None
        if kind is None:
            return []
        day = max(event.time_ms, 0) // DAY_MS
        findings: list[pb.Finding] = []
        index = self.index
        for line_no, code_index, code in codes:
            result = parsed[code]
            cis = result.cis
            if cis:
                slot = slots.get(cis)
                entry = index.raw(cis, slot)  # read once: for the verdict and for the move
                state = index.state_of(entry)
            else:
                state = None
            if kind == SALE:
                judgement = judge_sale(result, state, seller_tin, store_id, day)
                if cis:
                    undo.append((cis, entry, index.sold(cis, slot, entry, seller_tin, store_id)))
            else:
                judgement = judge_return(result, state)
                if cis:
                    undo.append((cis, entry, index.returned(cis, slot, entry)))
            verdict_record(line_no, code_index, result, judgement, record=verdicts.add())
            for raised in judgement.findings:
                findings.append(pb.Finding(
                    kind=raised.kind, line=line_no, detail=raised.detail, cis=cis or "",
                    other_seller_tin=raised.other_seller_tin, other_store_id=raised.other_store_id,
                    facts=raised.facts))
        return findings

    def undo(self, undo: Undo) -> None:
        """Reverse status moves (their records were not journalled), newest first; a move another device
        made on the same code since stays (StatusIndex.unmove)."""
        for cis, before, after in reversed(undo):
            self.index.unmove(cis, before, after)

    def check(self, codes: list[str], seller_tin: str, store_id: str, now_ms: int) -> list[CheckAnswer]:
        """May each code be sold now by this seller and store (no status moves)."""
        day = max(now_ms, 0) // DAY_MS
        answers = []
        for code in codes:
            result = validate_code(code)
            state = self.index.state(result.cis) if result.cis else None
            answers.append(CheckAnswer(code, result, judge_sale(result, state, seller_tin, store_id, day)))
        return answers

    def apply_record(self, record: pb.JournalRecord, event: pb.Event) -> None:
        """Redo the status moves of a journalled accepted record (journal replay at start)."""
        if not record.code_verdicts or not event.HasField("receipt"):
            return
        kind = KIND_OF_OPERATION.get(event.receipt.operation)
        for verdict in record.code_verdicts:
            if not verdict.cis:
                continue
            if kind == SALE:
                self.index.record_sale(verdict.cis, record.seller_tin, record.store_id)
            elif kind == RETURN:
                self.index.record_return(verdict.cis)

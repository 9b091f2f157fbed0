"""code_events rows from journal records: verdicts decided at ingest (sales, returns) and check records."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.ingest.code_verdicts import MAY_SELL, VALID
from gateway.storage.columns import CODE_EVENTS, clamp_time
from gateway.wire import pb

if TYPE_CHECKING:
    from gateway.storage.rows import TableRows

_CODE_EVENT_ROW = CODE_EVENTS.row_builder()
_KIND_OF_OPERATION = {pb.SELL: "sale", pb.SELL_RETURN: "return"}


def add_check_events(table: TableRows, record: pb.JournalRecord) -> None:
    """Append one code_events row per verdict of a pre-sale check record."""
    check = record.code_check
    for verdict in record.code_verdicts[:]:
        table.add(
            received_at=clamp_time(record.received_ms), seller_tin=record.seller_tin,
            store_id=record.store_id, device_id=record.envelope.device_id, seq=record.envelope.seq,
            cis=verdict.cis, event_time=clamp_time(check.answered_ms), kind="check",
            verdict=MAY_SELL if verdict.verdict == VALID else verdict.verdict,
            error_code=verdict.error_code, raw_code=verdict.raw_code, gtin=verdict.gtin,
            product_group=verdict.group, document_number=0, line=0, check_id=check.check_id,
            gateway_id=record.gateway_id,
        )


def add_receipt_code_events(
    table: TableRows, verdicts: list[pb.CodeVerdictRecord], lines: list[pb.ReceiptLine],
    codes_by_line: list[list[str]], operation: pb.Operation, keys: tuple[Any, ...], document_number: int,
    gateway_id: str,
) -> None:
    """Append one code_events row per verdict of an accepted receipt (rows.py has read its fields once).

    keys: the receipt's values of columns.KEYS; codes_by_line: each line's marking codes.
    """
    kind = _KIND_OF_OPERATION.get(operation, "sale")
    add = table.rows.append
    for verdict in verdicts:
        line_no, code_index = verdict.line, verdict.code_index
        if 0 < line_no <= len(lines):
            codes = codes_by_line[line_no - 1]
            raw_code = codes[code_index] if code_index < len(codes) else ""
            check_id = lines[line_no - 1].code_check_id
        else:
            raw_code = check_id = ""
        add(_CODE_EVENT_ROW(*keys, gateway_id, document_number, verdict, kind, raw_code, check_id))

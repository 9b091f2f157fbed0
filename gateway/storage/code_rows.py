"""code_events rows from journal records: verdicts decided at ingest (sales, returns) and check records."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.wire import pb

if TYPE_CHECKING:
    from gateway.storage.rows import TableRows

CODE_EVENTS_COLUMNS: tuple[str, ...] = (
    "cis", "event_time", "received_at", "kind", "verdict", "error_code", "raw_code", "gtin", "product_group",
    "seller_tin", "store_id", "device_id", "seq", "document_number", "line", "check_id",
)
_KIND_OF_OPERATION = {pb.SELL: "sale", pb.SELL_RETURN: "return"}


def is_check_record(record: pb.JournalRecord) -> bool:
    """True for a pre-sale check record (journalled outside any device chain)."""
    return record.HasField("code_check")


def add_code_events(table: TableRows, record: pb.JournalRecord, event: pb.Event | None) -> None:
    """Append one code_events row per verdict of an accepted receipt or of a check record."""
    from gateway.storage.rows import clamp_time  # rows imports this module

    if not record.code_verdicts:
        return
    common = {
        "received_at": clamp_time(record.received_ms), "seller_tin": record.seller_tin,
        "store_id": record.store_id, "device_id": record.envelope.device_id, "seq": record.envelope.seq,
    }
    if is_check_record(record):
        check = record.code_check
        for verdict in record.code_verdicts[:]:
            table.add(
                **common, cis=verdict.cis, event_time=clamp_time(check.answered_ms), kind="check",
                verdict="may_sell" if verdict.verdict == "valid" else verdict.verdict,
                error_code=verdict.error_code, raw_code=verdict.raw_code, gtin=verdict.gtin,
                product_group=verdict.group, document_number=0, line=0, check_id=check.check_id,
            )
        return
    if event is None or not event.HasField("receipt"):
        return
    receipt = event.receipt
    kind = _KIND_OF_OPERATION.get(receipt.operation, "sale")
    lines = receipt.lines
    for verdict in record.code_verdicts[:]:
        line = lines[verdict.line - 1] if 0 < verdict.line <= len(lines) else None
        codes = line.marking_codes if line is not None else []
        table.add(
            **common, cis=verdict.cis, event_time=clamp_time(event.time_ms), kind=kind,
            verdict=verdict.verdict, error_code=verdict.error_code,
            raw_code=codes[verdict.code_index] if verdict.code_index < len(codes) else "",
            gtin=verdict.gtin, product_group=verdict.group, document_number=receipt.document_number,
            line=verdict.line, check_id=line.code_check_id if line is not None else "",
        )

"""Regression tests for inputs the fuzzer found: each once broke a promise of the gateway."""

from __future__ import annotations

from gateway.ingest.receipt_validation import validate_event
from gateway.storage.rows import build_rows
from gateway.wire import pb


def _record(event: pb.Event, seq: int) -> pb.JournalRecord:
    envelope = pb.Envelope(device_id="FUZZ-00", seq=seq, prev_hash=b"\0" * 32,
                           event=event.SerializeToString(), signature=b"s" * 64, key_id="k")
    return pb.JournalRecord(envelope=envelope, accepted=True, seller_tin="080740000019", store_id="ALA-101",
                            received_ms=1_768_000_000_000, fiscal_sign="FS")


def test_an_authentic_event_with_an_unknown_enum_value_still_ships() -> None:
    # Found by `make fuzz`: a signed receipt with operation 99 was ACCEPTED, then build_rows raised on every
    # shipping attempt, so it and everything journalled after it never reached ClickHouse.
    receipt = pb.Event(time_ms=1_768_000_000_000, receipt=pb.Receipt(operation=99, total=100,  # type: ignore[arg-type]
                       payments=[pb.Payment(type=99, sum=100)]))  # type: ignore[arg-type]
    close = pb.Event(time_ms=1_768_000_000_000, shift_close=pb.ShiftClose(shift_number=1, operations=[
        pb.OperationTotals(operation=99, count=1, sum=5, payments=[pb.Payment(type=98, sum=4)])]))  # type: ignore[arg-type]
    tables = build_rows([_record(receipt, 1), _record(close, 2)])
    assert tables["receipts"].data()[tables["receipts"].column_names().index("operation")] == ["UNKNOWN_99"]
    assert tables["shifts"].data() and tables["events"].data()
    kinds = {f.kind for f in validate_event(close, 1_768_000_000_000)}
    assert "shift_payment_mismatch" in kinds

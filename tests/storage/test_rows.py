"""Rows built from real journal records land in every table with the values the receipts carried."""

from __future__ import annotations

import datetime as dt
import gc
from typing import Any

import pytest

from gateway.storage.client import Storage
from gateway.storage.columns import MAX_TIME_MS
from gateway.storage.rows import TableRows, build_rows
from gateway.storage.writer import collector_paused
from gateway.wire import pb
from tests.storage.journal_records import T0_MS, Register, sell_receipt


def utc(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).replace(tzinfo=None)


def test_building_rows_leaves_the_records_as_they_are() -> None:
    """Content findings go into the anomalies rows, not into the caller's records (a retry builds again)."""
    register = Register()
    receipt = sell_receipt(1, 1, [1500])
    receipt.total = 999  # the lines say 1500: total_mismatch, found while the rows are built
    record = register.accepted(pb.Event(time_ms=T0_MS, receipt=receipt))
    before = record.SerializeToString()
    for _ in range(2):
        assert "total_mismatch" in build_rows([record])["anomalies"].columns["kind"]
    assert record.SerializeToString() == before


def test_a_shift_becomes_events_receipts_lines_and_a_z_report() -> None:
    register = Register()
    records = register.shift(shift=3, receipts=4, first_document=10)
    tables = build_rows(records)
    assert set(tables) == {"events", "receipts", "receipt_lines", "shifts"}
    assert tables["events"].columns["kind"] == ["shift_open", "receipt", "receipt", "receipt", "receipt",
                                                "shift_close"]
    assert tables["events"].columns["seq"] == [1, 2, 3, 4, 5, 6]
    receipts = tables["receipts"].columns
    assert receipts["document_number"] == [10, 11, 12, 13]
    assert receipts["total"] == [1500, 3750, 4740, 1500]
    assert receipts["cash"] == [1600, 0, 4840, 0] and receipts["card"] == [0, 3750, 0, 1500]
    assert receipts["line_count"] == [1, 2, 3, 1] and receipts["marked_code_count"] == [1, 1, 2, 1]
    lines = tables["receipt_lines"].columns
    assert len(lines["gtin"]) == 7 and lines["line_no"][:3] == [1, 1, 2]
    assert lines["day"][0] == (T0_MS + 120_000) // 86_400_000
    shift = tables["shifts"].columns
    assert shift["receipt_count"] == [4] and shift["sell_sum"] == [11490]
    assert shift["cash"] == [6240] and shift["card"] == [5250]
    assert shift["payments"] == [{"SELL:CASH": 6240, "SELL:CARD": 5250}]


def test_findings_become_anomalies_and_rejections_keep_their_code() -> None:
    register = Register()
    finding = pb.Finding(kind="total_mismatch", line=0, detail="lines add up to 1500, total says 1600")
    accepted = register.accepted(pb.Event(time_ms=T0_MS, receipt=sell_receipt(1, 1, [1500])), [finding])
    rejected = register.rejected("bad_signature", "signature does not verify")
    tables = build_rows([accepted, rejected])
    assert tables["receipts"].columns["findings"] == [["total_mismatch"]]
    assert tables["anomalies"].columns["kind"] == ["total_mismatch"]
    assert tables["anomalies"].columns["seq"] == [1]
    assert tables["rejections"].columns["error_code"] == ["bad_signature"]
    assert len(tables["events"]) == 1, "a rejected envelope is not an event"


def test_device_clock_far_off_is_clamped_not_fatal() -> None:
    register = Register()
    record = register.accepted(pb.Event(time_ms=2**62, shift_open=pb.ShiftOpen(shift_number=1)))
    assert build_rows([record])["events"].columns["event_time"] == [MAX_TIME_MS]


def test_receipt_rows_read_returns_line_taxes_payments_and_verdicts() -> None:
    register = Register()
    receipt = sell_receipt(1, 7, [1500, 990])
    receipt.operation = pb.SELL_RETURN
    receipt.parent.device_id, receipt.parent.shift_number = "KKM-0009", 4
    receipt.parent.document_number, receipt.parent.fiscal_sign = 55, "FS-55"
    receipt.ClearField("taxes")  # the receipt's VAT is then its lines' VAT
    receipt.lines[1].taxes.add(tax_type=5, rate_bp=300, sum=9)  # not VAT: ignored
    receipt.lines[1].taxes.add(tax_type=100, rate_bp=800, sum=7)  # a second VAT: summed, first rate kept
    receipt.lines[1].marking_codes.append("0104600000000221SECOND\x1d93ef")
    receipt.lines[1].code_check_id = "chk-2"
    receipt.payments.add(type=99, sum=5)  # a newer payment type: no column
    receipt.payments.add(type=pb.MOBILE, sum=11)
    finding = pb.Finding(kind="unknown_code", line=2, detail="not in the registry", cis="0104600000000221")
    record = register.accepted(pb.Event(time_ms=T0_MS, receipt=receipt), [finding])
    record.code_verdicts.add(line=2, code_index=0, cis="0104600000000221", verdict="unknown", gtin="x")
    record.code_verdicts.add(line=2, code_index=9, cis="c9", verdict="unknown")  # no such code: raw_code ""
    record.code_verdicts.add(line=7, code_index=0, cis="c7", verdict="unknown")  # no such line
    tables = build_rows([record])
    row = {name: column[0] for name, column in tables["receipts"].columns.items()}
    assert row["operation"] == "SELL_RETURN" and row["vat"] == 1500 * 12 // 112 + 990 * 12 // 112 + 7
    assert (row["cash"], row["card"], row["mobile"], row["credit"], row["tare"]) == (2590, 0, 11, 0, 0)
    assert (row["parent_device_id"], row["parent_shift_number"], row["parent_document_number"],
            row["parent_fiscal_sign"]) == ("KKM-0009", 4, 55, "FS-55")
    assert row["line_count"] == 2 and row["marked_code_count"] == 2
    # The journalled finding first, then what the content gives (taxes and payments do not add up here).
    assert row["findings"] == ["unknown_code", "tax_mismatch", "tax_mismatch", "payment_mismatch"]
    lines = tables["receipt_lines"].columns
    assert lines["vat"] == [1500 * 12 // 112, 990 * 12 // 112 + 7] and lines["vat_rate_bp"] == [1200, 1200]
    codes = tables["code_events"].columns
    assert codes["kind"] == ["return"] * 3 and codes["line"] == [2, 2, 7]
    assert codes["raw_code"] == ["0104600000000221SECOND\x1d93ef", "", ""]
    assert codes["check_id"] == ["chk-2", "chk-2", ""] and codes["document_number"] == [7, 7, 7]
    anomalies = tables["anomalies"].columns
    assert anomalies["accepted"] == [True] * 4 and anomalies["seq"] == [1] * 4
    assert anomalies["line"] == [2, 2, 2, 0]


@pytest.mark.clickhouse
def test_rows_land_in_every_table_with_their_values(storage: Storage) -> None:
    register = Register()
    records = register.shift(shift=1, receipts=3, first_document=1)
    records.append(register.rejected("bad_signature", "signature does not verify"))
    records[2].findings.append(pb.Finding(kind="sum_mismatch", line=2, detail="line 2", cis="0104600000"))
    tables = build_rows(records)
    db = storage.database

    def insert_and_read(client: Any) -> dict[str, list[tuple[Any, ...]]]:
        for rows in tables.values():
            client.insert(rows.table, rows.data(), column_names=rows.column_names(), database=db,
                          column_oriented=True)
        return {
            "events": client.query(f"SELECT device_id, seq, kind, event_time, envelope_hash, fiscal_sign "
                                   f"FROM {db}.events ORDER BY seq").result_rows,
            "receipts": client.query(f"SELECT seq, total, cash, card, vat, findings FROM {db}.receipts "
                                     "ORDER BY seq").result_rows,
            "receipt_lines": client.query(f"SELECT count(), sum(sum), groupArray(marking_codes) "
                                          f"FROM {db}.receipt_lines").result_rows,
            "shifts": client.query(f"SELECT shift_number, receipt_count, sell_sum, cash_in_drawer, "
                                   f"payments FROM {db}.shifts").result_rows,
            "anomalies": client.query(f"SELECT kind, seq, line, cis FROM {db}.anomalies").result_rows,
            "rejections": client.query(f"SELECT device_id, error_code, seller_tin FROM {db}.rejections")
            .result_rows,
        }

    stored = storage.run_sync(insert_and_read)
    event_records = [r for r in records if r.accepted]
    assert stored["events"] == [
        ("KKM-0001", r.envelope.seq, kind, utc(pb.Event.FromString(r.envelope.event).time_ms),
         r.envelope_hash, r.fiscal_sign)
        for r, kind in zip(event_records, ["shift_open", "receipt", "receipt", "receipt", "shift_close"],
                           strict=True)
    ]
    assert stored["receipts"] == [(2, 1500, 1600, 0, 160, []), (3, 3750, 0, 3750, 401, ["sum_mismatch"]),
                                  (4, 4740, 4840, 0, 507, [])]
    count, line_sum, codes = stored["receipt_lines"][0]
    assert (count, line_sum) == (6, 9990)
    assert ["0104600000000121SERIAL1\x1d93abcd"] in codes, "marking codes are kept verbatim, GS included"
    assert stored["shifts"] == [(1, 3, 9990, 3000 + 6240, {"SELL:CASH": 6240, "SELL:CARD": 3750})]
    assert stored["anomalies"] == [("sum_mismatch", 3, 2, "0104600000")]
    assert stored["rejections"] == [("KKM-0001", "bad_signature", "123456789012")]


def test_rows_of_the_wrong_width_are_refused() -> None:
    rows = TableRows("anomalies")
    rows.rows.append(("total_mismatch", 0))
    with pytest.raises(ValueError, match="2 values for 14 columns"):
        rows.data()


def test_the_collector_runs_again_after_a_batch() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()

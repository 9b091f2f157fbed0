"""The read side's pure parts: local time, anomaly sentences per reader, incident ids and cursors."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from pathlib import Path

import pytest

import gateway
from gateway import errors
from gateway.errors import GatewayError
from gateway.i18n import translate
from gateway.ingest import receipt_validation
from gateway.ofd.counters import Ledger
from gateway.query import anomaly_text
from gateway.query.anomalies import AnomalyFilter, decode_cursor, incident_id, incident_key
from gateway.query.anomaly_text import Reader, sentence
from gateway.query.local_time import day_range_ms, local_day, parse_time
from gateway.wire import ofd_pb2, pb

STAFF, MINE, OTHER = Reader(None), Reader("080740000019"), "080740000029"


def test_times_without_a_zone_are_kazakhstan_time_and_days_are_local() -> None:
    assert parse_time("2026-01-15") == parse_time("2026-01-14T19:00:00Z")
    assert parse_time("15.01.2026 00:30") == parse_time("2026-01-14T19:30:00Z")
    assert parse_time("04.12.2026") == parse_time("2026-12-04T00:00+05:00")
    assert parse_time("1768500000000") == 1768500000000
    after_midnight = parse_time("2026-01-15T00:30:00+05:00") or 0  # 19:30 UTC on the 14th
    assert local_day(after_midnight) == dt.date(2026, 1, 15)
    start, end = day_range_ms(dt.date(2026, 1, 15))
    assert start <= after_midnight < end and end - start == 86_400_000
    with pytest.raises(GatewayError, match="--since: not a date"):
        parse_time("yesterday", name="--since")
    for crafted in ("99999999999999999999999", "9999-01-01", "1900-01-01"):
        with pytest.raises(GatewayError, match="not between 1970 and 2100"):
            parse_time(crafted)


def test_another_seller_is_named_to_staff_and_never_to_a_retailer() -> None:
    clone = {"other_seller_tin": OTHER, "other_store_id": "B-7"}
    assert (
        sentence(STAFF, "code_clone", **clone)
        == f"the same code was sold before by seller {OTHER}, store B-7"
    )
    assert sentence(MINE, "code_clone", **clone) == "the same code was sold before by another seller"
    own = {"other_seller_tin": MINE.seller_tin or "", "other_store_id": "A-2"}
    assert sentence(MINE, "code_clone", **own) == "the same code was sold before in your other store A-2"
    # A row from before the columns existed: its English detail named the seller; a retailer never reads it.
    old = "the same code was sold by seller 080740000029 store B and now by seller 080740000019 store A"
    assert OTHER not in sentence(Reader("080740000019", "kk"), "code_clone", detail=old)
    assert sentence(STAFF, "code_clone", detail=old) == old
    assert OTHER not in sentence(MINE, "code_not_owner", other_seller_tin=OTHER)


def test_plain_words_with_real_dates_and_money() -> None:
    facts = json.dumps({"expires_on": "2026-09-03"})
    assert sentence(Reader(None, "ru"), "code_expired", facts=facts) == "срок годности истёк 03.09.2026"
    assert sentence(STAFF, "late_upload", event_ms=0 + 1, detected_ms=80 * 3_600_000 + 1).startswith(
        "received 80 h after"
    )
    shift = json.dumps(
        {
            "shift_number": "1",
            "z_receipt_count": "2",
            "receipts_count": "1",
            "z_sell_sum": "3000",
            "receipts_sell_sum": "1500",
        }
    )
    text = sentence(STAFF, "shift_receipts_mismatch", facts=shift)
    assert "2 receipt(s) and 30.00 ₸ sold" in text and "1 and 15.00 ₸" in text
    assert sentence(STAFF, "total_mismatch", detail="total 1500, sum of lines 1400").startswith("Total ≠ sum")


def test_incident_ids_name_their_key_and_crafted_ones_are_not_found() -> None:
    key = ("code", "KKM-1", 7, 1, "0104600000000121A/B?c")
    assert incident_key(incident_id(*key)) == key
    for crafted in ("zz", "00", "61"):
        with pytest.raises(GatewayError) as refused:
            incident_key(crafted)
        assert refused.value.error is errors.NOT_FOUND


@pytest.mark.parametrize(
    "key",
    [[1, "d", 2, 3, "code", "c"], [2**70, "d", 1, 1, "f", "c"], [1, "d", -1, 0, "f", ""], "x", [1.5] * 6],
)
def test_a_crafted_cursor_is_a_clear_400_not_a_500(key: object) -> None:
    cursor = base64.urlsafe_b64encode(json.dumps(key).encode()).decode()
    if key == [1, "d", 2, 3, "code", "c"]:
        assert decode_cursor(cursor) == key
        return
    with pytest.raises(GatewayError) as refused:
        decode_cursor(cursor)
    assert refused.value.error is errors.MALFORMED_REQUEST
    with pytest.raises(GatewayError):
        decode_cursor("%%%not base64")


def test_an_unknown_kind_or_status_is_an_error_not_an_empty_queue() -> None:
    with pytest.raises(GatewayError, match="“code_clown” is not a kind of anomaly"):
        AnomalyFilter(kinds=("code_clown",)).checked()
    with pytest.raises(GatewayError, match="status must be one of"):
        AnomalyFilter(status="done").checked()
    with pytest.raises(GatewayError, match="The end of the period must come after its start"):
        AnomalyFilter(since_ms=2, until_ms=1).checked()


def test_figures_of_english_details_are_said_in_the_readers_language() -> None:
    skew = "event time is 86399 s ahead of the gateway, the allowed skew is 300 s"
    ru = sentence(Reader(None, "ru"), "clock_skew", detail=skew)
    assert "86399" in ru and "300" in ru and "ahead" not in ru and ru.startswith("Часы кассы")
    fork = f"seq 2 was accepted with hash {'ab' * 32}, this one is {'cd' * 32}"
    assert "accepted" not in sentence(Reader(None, "kk"), "chain_fork", detail=fork)
    # A receipt's arithmetic: its figures in tenge as each reader writes them, rates as percentages.
    line = "line sum 150000, computed 120050"
    assert sentence(Reader(None, "ru"), "line_sum_mismatch", detail=line) == (
        "Сумма строки ≠ цена × количество: в строке 1\u00a0500,00 ₸, по цене, количеству и скидке или"
        " наценке — 1\u00a0200,50 ₸"
    )
    assert "the line says 1,500.00 ₸" in sentence(STAFF, "line_sum_mismatch", detail=line)
    details = {
        "total_mismatch": ("total 1500, sum of lines - discount + markup 1400", ("15.00", "14.00")),
        "payment_mismatch": ("payments 2000 - change 100 != total 1500", ("20.00", "1.00", "15.00")),
        "change_exceeds_cash": ("change 500 exceeds the cash paid 0", ("5.00", "0.00")),
        "storno_unmatched": ("storno of 900: the receipt's lines of that name hold 0", ("9.00", "0.00")),
        "tax_mismatch": ("tax 100 at 1250 bp is 10, computed 12", ("12.5%", "0.10", "0.12")),
        "tax_total_mismatch": ("tax 100 at 1200 bp: receipt says 160, lines add up to 161", ("12%", "1.60")),
        "bad_quantity": ("quantity -1234567891 (thousandths) is not positive", ("-1234567.891",)),
        "shift_count_mismatch": ("receipt_count 7, per-operation counts add up to 6", ("7", "6")),
        "shift_payment_mismatch": ("operation SELL: payments 1000, sum 1500", ("10.00", "15.00")),
        "shift_document_range_mismatch": ("documents 3..4 cannot hold 5 receipts", ("3", "4", "5")),
    }
    for kind, (detail, figures) in details.items():
        for lang in ("en", "ru", "kk"):
            text = sentence(Reader(None, lang), kind, detail=detail)
            said = [f if lang == "en" else f.replace(".", ",") for f in figures]
            assert all(f in text for f in said) and ("receipt says" in text) == (
                lang == "en" and kind == "tax_total_mismatch"), (lang, text)
    assert "продажа: оплаты 10,00 ₸" in sentence(Reader(None, "ru"), "shift_payment_mismatch",
                                                   detail="operation SELL: payments 1000, sum 1500")
    # A detail the reader's language has no sentence for gives way to the kind's name; English keeps it.
    notice = "the register says 3 documents were lost"
    assert sentence(Reader(None, "ru"), "gap_notice", detail=notice) == translate("ru", "kind.gap_notice")
    assert notice in sentence(STAFF, "gap_notice", detail=notice)


def _written_details() -> list[tuple[str, str]]:
    """(kind, detail) as the gateway's own writers word them: receipts' and cash movements' checks, and
    the OFD door's shift, cash and Z-report counts."""
    findings = []
    for event in (
        pb.Event(time_ms=0, receipt=pb.Receipt(
            operation=pb.SELL_RETURN, total=-100, discount=pb.Adjustment(sum=-100),
            lines=[pb.ReceiptLine(name="a", quantity=1000, price=-100, sum=-100)],
            payments=[pb.Payment(type=pb.CASH, sum=-100)],
        )),
        pb.Event(time_ms=1, receipt=pb.Receipt(
            lines=[pb.ReceiptLine(name="a", quantity=1000, price=1, sum=1)], total=1,
            payments=[pb.Payment(type=pb.CASH, sum=1)],
        )),
        pb.Event(time_ms=1, cash_movement=pb.CashMovement(kind=pb.CashMovement.WITHDRAWAL, sum=0)),
    ):
        findings += receipt_validation.validate_event(event, received_ms=2)

    def open_shift() -> Ledger:  # shift 4 open, 200 ₸ in the drawer
        shift = pb.OfdShiftCounters(shift_number=4, cash_sum=20_000)
        return Ledger(pb.OfdRegisterState(shift_open=True, shift=shift))

    findings += open_shift().shift_for(3, 1).findings
    findings += open_shift().shift_for(5, 1).findings
    withdrawal = ofd_pb2.MoneyPlacementRequest(
        operation=ofd_pb2.MONEY_PLACEMENT_WITHDRAWAL, sum=ofd_pb2.Money(bills=500, coins=0))
    findings += open_shift().count_cash(withdrawal, offline=False)
    money = ofd_pb2.Money(bills=1_234, coins=50)
    z = ofd_pb2.ZXReport(
        shift_number=4, cash_sum=money, revenue=ofd_pb2.ZXReport.Revenue(sum=money, is_negative=False),
        ticket_operations=[ofd_pb2.ZXReport.TicketOperation(
            operation=ofd_pb2.OPERATION_SELL, tickets_total_count=2, tickets_count=2, tickets_sum=money)],
        money_placements=[ofd_pb2.ZXReport.MoneyPlacement(
            operation=ofd_pb2.MONEY_PLACEMENT_DEPOSIT, operations_total_count=1, operations_count=1,
            operations_sum=money)],
    )
    written = [(f.kind, f.detail) for f in findings]
    written.append(("z_report_mismatch", "; ".join(open_shift().z_differences(z))))
    return written


def test_every_detail_the_gateway_writes_is_said_in_each_language() -> None:
    written = dict(_written_details())
    assert {"negative_amount", "missing_parent", "bad_time", "bad_amount", "shift_out_of_order",
            "shift_not_closed", "cash_short", "z_report_mismatch"} <= set(written), written
    for kind, detail in _written_details():
        for lang in ("en", "ru", "kk"):
            text = sentence(Reader(None, lang), kind, detail=detail)
            name = translate(lang, f"kind.{kind}")
            assert text.startswith(f"{name}: ") and len(text) > len(name) + 10, (lang, kind, text)
            if lang != "en":  # nothing of the English detail: only Z, IIN-free Cyrillic words and figures
                assert set(re.findall(r"[A-Za-z]+", text)) <= {"Z", "tracegate"}, (lang, text)
    # Money in tenge, not in tiyn; operation and cash movement kinds by name.
    z = sentence(Reader(None, "ru"), "z_report_mismatch", detail=written["z_report_mismatch"])
    assert z == (
        "Z-отчёт не сходится с чеками: продажа: у кассы чеков 2 на 1\u00a0234,50 ₸, у шлюза 0 на 0,00 ₸; "
        "наличные в кассе: у кассы 1\u00a0234,50 ₸, у шлюза 200,00 ₸; "
        "внесение, итог: у кассы 1\u00a0234,50 ₸, у шлюза 0,00 ₸"
    ), z
    short = sentence(STAFF, "cash_short", detail=written["cash_short"])
    assert short.endswith(": 500.00 ₸ taken out of a drawer that held 200.00 ₸"), short
    assert sentence(Reader(None, "kk"), "bad_amount", detail=written["bad_amount"]).endswith(": алу, 0,00 ₸")
    # The fixed sentences are still worded so by their writers (a change there would leave them English).
    writers = [p for p in Path(gateway.__file__).parent.rglob("*.py") if p.name != "anomaly_text.py"]
    sources = "".join(path.read_text() for path in writers)
    assert all(f'"{detail}"' in sources for _kind, detail in anomaly_text._FIXED), "a writer reworded one"

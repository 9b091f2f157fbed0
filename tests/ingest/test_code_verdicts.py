"""Code verdicts on ingest: every rule of issue 3 §2, through the real pipeline over an in-memory journal."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
from collections.abc import Sequence

import pytest

from firmware_sim.catalog import default_catalog, marking_code
from gateway import errors
from gateway.codes.parser import validate_code
from gateway.codes.status_index import StatusIndex
from gateway.devices import Device
from gateway.errors import GatewayError
from gateway.ingest.code_verdicts import DAY_MS, CodeVerdicts, judge_sale
from gateway.ingest.fiscal_sign import FiscalSigner
from gateway.ingest.pipeline import IngestPipeline
from gateway.storage.rows import build_rows
from gateway.wire import pb, signing
from tests.ingest.conftest import FISCAL_KEY, NOW_MS, Gateway, MemoryJournal, Register, make_gateway

OWNER = "990340000123"  # the seller of conftest's Register.device()
OTHER_SELLER = "990340000456"
SALE_DAY = (NOW_MS - 60_000) // DAY_MS
_SHOES = next(g for g in default_catalog() if g.marking_group == "shoes")


def fresh_code(seed: int) -> str:
    """A valid marking code (shoes: 01 + GTIN, 21 + 13-char serial, 91 + 92 crypto)."""
    return marking_code(_SHOES, random.Random(seed))


def cis(code: str) -> str:
    """The code's cis as the validator derives it."""
    found = validate_code(code).cis
    assert found
    return found


def coded_event(codes: list[str], operation: int = pb.SELL, time_ms: int = NOW_MS - 60_000,
                check_id: str = "") -> pb.Event:
    """A sale (or return) with one line per code; arithmetic consistent."""
    lines = [
        pb.ReceiptLine(name="Shoes", gtin=_SHOES.gtin, quantity=1000, price=1000, sum=1000,
                       taxes=[pb.Tax(tax_type=100, rate_bp=1200, sum=107)], marking_codes=[code],
                       code_check_id=check_id)
        for code in codes
    ]
    total = 1000 * len(lines)
    return pb.Event(time_ms=time_ms, receipt=pb.Receipt(
        operation=operation, shift_number=1, document_number=1, shift_document_number=1, cashier="A",
        lines=lines, payments=[pb.Payment(type=pb.CARD, sum=total)], total=total,
        taxes=[pb.Tax(tax_type=100, rate_bp=1200, sum=107 * len(lines))],
    ))


class Shop:
    """A pipeline with code verdicts and two registers: one of the owner, one of another seller/store."""

    def __init__(self) -> None:
        self.index = StatusIndex()
        self.own = Register("KKM-OWN")
        self.other = Register("KKM-OTHER")
        self.gateway: Gateway = make_gateway([self.own])
        self.gateway.registry.put(Device(
            device_id="KKM-OTHER", seller_tin=OTHER_SELLER, store_id="astana-02",
            public_key_pem=signing.public_key_pem(self.other.key.public_key()), key_id=self.other.key_id,
            status="active",
        ))
        g = self.gateway
        g.pipeline = IngestPipeline(g.pipeline._settings, g.registry, g.chains, g.fiscal, g.journal,
                                    g.storage.lookup, clock=lambda: NOW_MS,
                                    code_verdicts=CodeVerdicts(self.index))

    def registry(self, code: str, status: str = "introduced", owner: str = OWNER,
                 expires_day: int = 0) -> str:
        """Put a code into the registry; returns it."""
        self.index.put_registry(cis(code), status, owner, expires_day)
        return code

    async def sell(self, codes: list[str], register: Register | None = None,
                   operation: int = pb.SELL, **kw: object) -> pb.JournalRecord:
        """Send one receipt; it must be accepted; returns its journal record."""
        register = register or self.own
        event = coded_event(codes, operation, **kw)  # type: ignore[arg-type]
        acks = await self.gateway.send(register.envelope(event))
        assert acks[0].status == pb.ACCEPTED, acks[0]
        return self.gateway.journal.decoded()[-1]


def verdicts(record: pb.JournalRecord) -> list[str]:
    return [v.verdict for v in record.code_verdicts]


def kinds(record: pb.JournalRecord) -> list[str]:
    """The code anomalies of a record (receipt findings such as missing_parent left out)."""
    return sorted(f.kind for f in record.findings if f.kind.startswith("code_"))


@pytest.fixture
def shop() -> Shop:
    return Shop()


async def test_a_registered_code_sells_valid_once_then_is_retired(shop: Shop) -> None:
    code = shop.registry(fresh_code(1))
    first = await shop.sell([code])
    assert verdicts(first) == ["valid"] and kinds(first) == []
    assert first.code_verdicts[0].cis == cis(code) and first.code_verdicts[0].group
    second = await shop.sell([code])
    assert verdicts(second) == ["already_sold"]
    assert kinds(second) == ["code_sold_twice"]  # same store: not a clone
    assert second.findings[0].cis == cis(code) and second.findings[0].line == 1


async def test_same_code_sold_in_another_store_is_a_clone(shop: Shop) -> None:
    code = shop.registry(fresh_code(2))
    await shop.sell([code])
    record = await shop.sell([code], shop.other)
    assert verdicts(record) == ["already_sold"]
    assert kinds(record) == ["code_clone", "code_not_owner", "code_sold_twice"]
    # The earlier seller is named in its own fields, never in the sentence a retailer could read.
    clone = next(f for f in record.findings if f.kind == "code_clone")
    assert (clone.other_seller_tin, clone.other_store_id) == (OWNER, "almaty-01")
    assert all(OWNER not in f.detail and "almaty-01" not in f.detail for f in record.findings)


async def test_return_puts_the_code_back_and_it_sells_again(shop: Shop) -> None:
    code = shop.registry(fresh_code(3))
    await shop.sell([code])
    returned = await shop.sell([code], operation=pb.SELL_RETURN)
    assert verdicts(returned) == ["returned"] and kinds(returned) == []
    again = await shop.sell([code])
    assert verdicts(again) == ["valid"] and kinds(again) == []


async def test_unknown_code_is_kept_with_an_anomaly_and_caught_when_sold_again(shop: Shop) -> None:
    code = fresh_code(4)
    first = await shop.sell([code])
    assert verdicts(first) == ["unknown"] and kinds(first) == ["code_unknown"]
    second = await shop.sell([code])
    assert verdicts(second) == ["unknown"] and kinds(second) == ["code_sold_twice", "code_unknown"]


@pytest.mark.parametrize(
    ("status", "verdict", "kind"),
    [
        ("blocked", "blocked", "code_blocked"),
        ("emitted", "not_in_circulation", "code_not_in_circulation"),
        ("applied", "not_in_circulation", "code_not_in_circulation"),
        ("withdrawn", "not_in_circulation", "code_not_in_circulation"),
        ("written_off", "not_in_circulation", "code_not_in_circulation"),
        ("retired", "already_sold", "code_sold_twice"),
    ],
)
async def test_registry_status_decides(shop: Shop, status: str, verdict: str, kind: str) -> None:
    code = shop.registry(fresh_code(5), status=status)
    record = await shop.sell([code])
    assert record.accepted  # a sale is never refused for its code
    assert verdicts(record) == [verdict] and kinds(record) == [kind]


async def test_expired_after_its_day_but_not_on_it(shop: Shop) -> None:
    past = shop.registry(fresh_code(6), expires_day=SALE_DAY - 1)
    today = shop.registry(fresh_code(7), expires_day=SALE_DAY)
    record = await shop.sell([past, today])
    assert verdicts(record) == ["expired", "valid"]
    assert kinds(record) == ["code_expired"] and record.findings[0].line == 1
    expired_on = dt.date(1970, 1, 1) + dt.timedelta(days=SALE_DAY - 1)
    assert json.loads(record.findings[0].facts) == {"expires_on": expired_on.isoformat()}  # a date


async def test_seller_other_than_the_registry_owner(shop: Shop) -> None:
    code = shop.registry(fresh_code(8), owner=OTHER_SELLER)
    record = await shop.sell([code])
    assert verdicts(record) == ["not_owner"] and kinds(record) == ["code_not_owner"]
    unowned = shop.registry(fresh_code(9), owner="")
    assert verdicts(await shop.sell([unowned])) == ["valid"]  # no owner on file: nothing to compare


async def test_invalid_codes_and_plain_barcodes(shop: Shop) -> None:
    good = fresh_code(10)
    broken = good[:15] + str((int(good[15]) + 1) % 10) + good[16:]  # wrong GTIN check digit
    no_crypto = shop.registry(fresh_code(11)).split("\x1d")[0]
    record = await shop.sell([broken, "0104870101000027", no_crypto])
    assert verdicts(record) == ["syntax_error", "not_marking_code", "syntax_error"]
    assert [v.error_code for v in record.code_verdicts] == [
        "gtin_check_digit", "missing_serial", "missing_crypto"
    ]
    assert kinds(record) == ["code_invalid", "code_invalid"]
    # The item without its crypto part is still identified by its cis: it was sold.
    assert record.code_verdicts[2].cis == cis(no_crypto)
    assert shop.index.state(cis(no_crypto)).sold  # type: ignore[union-attr]


async def test_a_refused_journal_append_leaves_no_status_move(shop: Shop) -> None:
    code = shop.registry(fresh_code(12))
    envelope = shop.own.envelope(coded_event([code]))
    shop.gateway.journal.refuse = GatewayError(errors.BACKPRESSURE, retry_after_s=1)
    with pytest.raises(GatewayError):
        await shop.gateway.send(envelope)
    assert not shop.index.state(cis(code)).sold  # type: ignore[union-attr]
    shop.gateway.journal.refuse = None
    acks = await shop.gateway.send(envelope)  # the register resends the same envelope
    assert acks[0].status == pb.ACCEPTED
    assert verdicts(shop.gateway.journal.decoded()[-1]) == ["valid"]


class OneDeviceRefused(MemoryJournal):
    """A journal that takes a while to answer and is full for the requests carrying one device's records
    (a large batch over the budget, while a small one still fits)."""

    def __init__(self, device_id: str) -> None:
        super().__init__()
        self.device_id = device_id
        self.delay_s = 0.05

    async def append(self, records: Sequence[bytes]) -> None:
        """Refuse (BACKPRESSURE) a request holding the device's records, after the fsync's pause."""
        self.appends += 1
        await asyncio.sleep(self.delay_s)
        if any(pb.JournalRecord.FromString(raw).envelope.device_id == self.device_id for raw in records):
            raise GatewayError(errors.BACKPRESSURE, retry_after_s=1)
        self.records.extend(records)


async def test_two_devices_sell_one_code_while_one_sale_is_refused(shop: Shop) -> None:
    """The status index is shared by every device: OWN's sale is refused by the journal while OTHER sells
    the same code. OTHER's sale is the one that stays, judged as if OWN's had never been made."""
    journal = OneDeviceRefused(shop.own.device_id)
    g = shop.gateway
    g.journal = journal
    g.pipeline = IngestPipeline(g.pipeline._settings, g.registry, g.chains, g.fiscal, journal,
                                g.storage.lookup, clock=lambda: NOW_MS,
                                code_verdicts=CodeVerdicts(shop.index))
    code = shop.registry(fresh_code(30), owner="")  # any seller may sell it
    refused = asyncio.create_task(g.send(shop.own.envelope(coded_event([code]), advance=False)))
    while journal.appends == 0:  # OWN's sale is judged and waits for its fsync
        await asyncio.sleep(0.001)
    accepted = await g.send(shop.other.envelope(coded_event([code])))
    with pytest.raises(GatewayError):
        await refused
    assert accepted[0].status == pb.ACCEPTED
    record = journal.decoded()[-1]
    assert verdicts(record) == ["valid"] and kinds(record) == []  # not a clone of a sale never made
    state = shop.index.state(cis(code))
    assert state is not None and state.sold and state.last_store_id == "astana-02"
    journal.device_id = ""  # OWN's register resends later: now the second sale, by another store
    resent = await g.send(shop.own.envelope(coded_event([code])))
    assert resent[0].status == pb.ACCEPTED
    assert kinds(journal.decoded()[-1]) == ["code_clone", "code_sold_twice"]


class FailingOnSeq(FiscalSigner):
    """A fiscal signer that fails (a bug, a key gone) when asked to sign one seq."""

    def __init__(self, seq: int) -> None:
        super().__init__(FISCAL_KEY)
        self.failing_seq = seq

    def sign(self, device_id: str, seq: int, envelope_hash: bytes, event_time_ms: int) -> str:
        """The fiscal sign, except for the failing seq."""
        if seq == self.failing_seq:
            raise RuntimeError("fiscal signing failed")
        return super().sign(device_id, seq, envelope_hash, event_time_ms)


async def test_an_error_while_deciding_leaves_no_status_move(shop: Shop) -> None:
    g = shop.gateway
    g.pipeline = IngestPipeline(g.pipeline._settings, g.registry, g.chains, FailingOnSeq(2), g.journal,
                                g.storage.lookup, clock=lambda: NOW_MS,
                                code_verdicts=CodeVerdicts(shop.index))
    first, second = shop.registry(fresh_code(31)), shop.registry(fresh_code(32))
    with pytest.raises(RuntimeError):
        await g.send(shop.own.envelope(coded_event([first])), shop.own.envelope(coded_event([second])))
    for code in (first, second):
        state = shop.index.state(cis(code))
        assert state is not None and not state.sold
    assert g.journal.records == []


async def test_duplicates_are_not_judged_again(shop: Shop) -> None:
    code = shop.registry(fresh_code(13))
    envelope = shop.own.envelope(coded_event([code]))
    await shop.gateway.send(envelope)
    acks = await shop.gateway.send(envelope)
    assert acks[0].status == pb.DUPLICATE
    assert len(shop.gateway.journal.decoded()) == 1


async def test_rows_built_later_say_what_was_decided(shop: Shop) -> None:
    code = shop.registry(fresh_code(14))
    await shop.sell([code], check_id="chk-1")
    await shop.sell([code], shop.other)
    rows = build_rows(shop.gateway.journal.decoded())["code_events"].columns
    assert rows["verdict"] == ["valid", "already_sold"]
    assert rows["kind"] == ["sale", "sale"] and rows["raw_code"] == [code, code]
    assert rows["check_id"] == ["chk-1", ""] and rows["store_id"] == ["almaty-01", "astana-02"]
    anomalies = build_rows(shop.gateway.journal.decoded())["anomalies"].columns
    assert set(anomalies["cis"]) == {cis(code)}


async def test_journal_replay_rebuilds_the_moves(shop: Shop) -> None:
    code = shop.registry(fresh_code(15))
    await shop.sell([code])
    rebuilt = CodeVerdicts(StatusIndex())
    rebuilt.index.put_registry(cis(code), "introduced", OWNER, 0)
    for record in shop.gateway.journal.decoded():
        rebuilt.apply_record(record, pb.Event.FromString(record.envelope.event))
        rebuilt.apply_record(record, pb.Event.FromString(record.envelope.event))  # twice is harmless
    state = rebuilt.index.state(cis(code))
    assert state is not None and state.sold and state.last_store_id == "almaty-01"


async def test_purchases_get_no_verdicts(shop: Shop) -> None:
    record = await shop.sell([fresh_code(16)], operation=pb.BUY)
    assert not record.code_verdicts and kinds(record) == []


def test_precedence_reports_every_anomaly_but_one_verdict() -> None:
    index = StatusIndex()
    code = fresh_code(17)
    index.put_registry(cis(code), "blocked", OTHER_SELLER, SALE_DAY - 10)
    judgement = judge_sale(validate_code(code), index.state(cis(code)), OWNER, "almaty-01", SALE_DAY)
    assert judgement.verdict == "blocked"
    kinds_raised = [raised.kind for raised in judgement.findings]
    assert kinds_raised == ["code_blocked", "code_expired", "code_not_owner"]

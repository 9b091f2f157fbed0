"""A register's journal is a valid signed chain, its receipts add up, and its Z-reports match its receipts."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from firmware_sim.receipts import included_vat, line_sum, round_half_up_div
from gateway.ingest.receipt_validation import validate_event
from gateway.wire import pb, signing
from tests.sim.registers import MakeRegister, working_day


def events_of(envelopes: list[bytes]) -> list[pb.Event]:
    return [pb.Event.FromString(pb.Envelope.FromString(raw).event) for raw in envelopes]


def test_rounding_is_half_up_on_exact_halves() -> None:
    assert round_half_up_div(5, 10) == 1 and round_half_up_div(4, 10) == 0
    assert line_sum(333, 1500) == 500  # 499.5 rounds up
    assert line_sum(1000, 2000, discount=150, markup=20) == 1870
    assert included_vat(1120, 1200) == 120
    assert included_vat(14, 1200) == 2  # 14 * 1200 / 11200 = 1.5


def test_every_envelope_is_signed_and_chained_without_gaps(make_register: MakeRegister) -> None:
    register = make_register()
    working_day(register, receipts=30, shifts=2)
    public_key = register.key.public_key()
    prev_hash = signing.genesis_hash(register.identity.device_id)
    for expected_seq, raw in enumerate(register.journal.records(), start=1):
        envelope = pb.Envelope.FromString(raw)
        assert envelope.seq == expected_seq and envelope.prev_hash == prev_hash
        assert envelope.key_id == signing.key_id_of(public_key)
        preimage = signing.event_preimage(
            envelope.device_id, envelope.seq, envelope.prev_hash, envelope.event
        )
        assert signing.verify_signature(public_key, preimage, envelope.signature)
        prev_hash = signing.envelope_hash(preimage)
    assert register.seq == len(register.journal) == len(register.queue)
    assert register.prev_hash == prev_hash


def test_the_gateway_validator_finds_nothing_wrong_in_the_receipts(make_register: MakeRegister) -> None:
    register = make_register(seed=11)
    working_day(register, receipts=60, shifts=3)
    events = events_of(register.journal.records())
    kinds = Counter(e.WhichOneof("body") for e in events)
    assert kinds["receipt"] > 150 and kinds["shift_close"] == 3 and kinds["cash_movement"] >= 3
    for event in events:
        assert validate_event(event, received_ms=event.time_ms) == [], event


def test_receipts_add_up_exactly(make_register: MakeRegister) -> None:
    register = make_register(seed=5)
    working_day(register, receipts=80, shifts=1)
    receipts = [e.receipt for e in events_of(register.journal.records()) if e.HasField("receipt")]
    payment_kinds: Counter[int] = Counter()
    line_counts = []
    for receipt in receipts:
        line_counts.append(len(receipt.lines))
        for line in receipt.lines:
            assert line.sum == line_sum(line.price, line.quantity, line.discount, line.markup) > 0
            assert [t.sum for t in line.taxes] == [included_vat(line.sum, 1200)]
            if line.marking_codes:
                assert line.quantity == 1000 * len(line.marking_codes)
        assert receipt.total == sum(line.sum for line in receipt.lines)
        assert sum(p.sum for p in receipt.payments) - receipt.change == receipt.total
        assert receipt.change == 0 or any(p.type == pb.CASH for p in receipt.payments)
        payment_kinds.update(p.type for p in receipt.payments)
    assert {pb.CASH, pb.CARD, pb.MOBILE} <= set(payment_kinds)
    assert min(line_counts) >= 1 and max(line_counts) >= 6
    assert any(r.change > 0 for r in receipts)
    assert any(line.quantity % 1000 for r in receipts for line in r.lines)  # weighed goods


def test_z_report_equals_the_sum_of_its_shift(make_register: MakeRegister) -> None:
    register = make_register(seed=9)
    working_day(register, receipts=50, shifts=3)
    events = events_of(register.journal.records())
    grand: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    closes = 0
    shift: list[pb.Event] = []
    for event in events:
        if not event.HasField("shift_close"):
            shift.append(event)
            continue
        closes += 1
        report = event.shift_close
        receipts = [e.receipt for e in shift if e.HasField("receipt")]
        movements = [e.cash_movement for e in shift if e.HasField("cash_movement")]
        assert all(r.shift_number == report.shift_number for r in receipts)
        assert report.receipt_count == len(receipts)
        assert report.first_document_number == receipts[0].document_number
        assert report.last_document_number == receipts[-1].document_number
        for totals in report.operations:
            mine = [r for r in receipts if r.operation == totals.operation]
            assert totals.count == len(mine) and totals.sum == sum(r.total for r in mine)
            assert sum(p.sum for p in totals.payments) == totals.sum
            assert [t.sum for t in totals.taxes] == [sum(t.sum for r in mine for t in r.taxes)]
            grand[totals.operation][0] += totals.count
            grand[totals.operation][1] += totals.sum
        assert {t.operation for t in report.operations} == {r.operation for r in receipts}
        deposits = sum(m.sum for m in movements if m.kind == pb.CashMovement.DEPOSIT)
        withdrawals = sum(m.sum for m in movements if m.kind == pb.CashMovement.WITHDRAWAL)
        cash_sign = {pb.SELL: 1, pb.SELL_RETURN: -1}
        cash = sum(cash_sign[r.operation] * (sum(p.sum for p in r.payments if p.type == pb.CASH) - r.change)
                   for r in receipts)
        assert (report.cash_deposits, report.cash_withdrawals) == (deposits, withdrawals)
        assert report.cash_in_drawer == deposits - withdrawals + cash
        assert {(g.operation, g.count, g.sum) for g in report.grand_totals} == {
            (op, count, total) for op, (count, total) in grand.items()
        }
        shift = []
    assert closes == 3


def test_returns_refer_to_an_earlier_sale_of_the_same_register(make_register: MakeRegister) -> None:
    register = make_register(seed=4)
    working_day(register, receipts=60, shifts=2)
    sales: dict[int, pb.Receipt] = {}
    returns = 0
    for event in events_of(register.journal.records()):
        if not event.HasField("receipt"):
            continue
        receipt = event.receipt
        if receipt.operation == pb.SELL:
            sales[receipt.document_number] = receipt
            continue
        returns += 1
        assert receipt.operation == pb.SELL_RETURN
        parent = sales.pop(receipt.parent.document_number)  # earlier, and returned only once
        assert receipt.parent.device_id == register.identity.device_id
        assert (receipt.parent.shift_number, receipt.parent.total) == (parent.shift_number, parent.total)
        parent_lines = [line.SerializeToString() for line in parent.lines]
        assert all(line.SerializeToString() in parent_lines for line in receipt.lines)
        assert receipt.total <= parent.total and receipt.change == 0
    assert returns >= 5


def test_shift_rules_are_enforced(make_register: MakeRegister) -> None:
    register = make_register()
    with pytest.raises(RuntimeError):
        register.sell()
    register.open_shift()
    with pytest.raises(RuntimeError):
        register.open_shift()
    with pytest.raises(ValueError):
        register.cash_movement(pb.CashMovement.WITHDRAWAL, 1)  # the drawer is empty
    assert register.seq == 1


def test_a_restarted_register_continues_its_chain_and_queue(
    make_register: MakeRegister, tmp_path: Path
) -> None:
    register = make_register(state_dir=tmp_path)
    working_day(register, receipts=10, shifts=1)
    register.open_shift()
    register.sell()
    for seq in range(1, 6):
        register.settle(seq, pb.ACCEPTED, f"sign-{seq}")
    head, prev_hash, documents = register.seq, register.prev_hash, register.document_number

    again = make_register(state_dir=tmp_path)
    assert again.key_id == register.key_id
    assert (again.seq, again.prev_hash, again.document_number) == (head, prev_hash, documents)
    assert again.shift_open and again.shift.receipt_count == 1
    assert [seq for seq, _ in again.queue.peek(1000)] == list(range(6, head + 1))
    raw = again.sell()
    envelope = pb.Envelope.FromString(raw)
    assert envelope.seq == head + 1 and envelope.prev_hash == prev_hash
    again.close_shift()
    report = events_of([again.journal.records()[-1]])[0].shift_close
    assert report.receipt_count == 2 and report.shift_number == 2


def test_a_key_rotation_is_signed_by_the_old_key_and_the_new_one_signs_after_it(
    make_register: MakeRegister, tmp_path: Path
) -> None:
    register = make_register(state_dir=tmp_path)
    register.open_shift()
    old_key = register.key
    before = register.sell()
    rotation = register.rotate_key()
    after = register.sell()

    def signed_by(raw: bytes, key: ec.EllipticCurvePrivateKey) -> bool:
        envelope = pb.Envelope.FromString(raw)
        e = envelope
        preimage = signing.event_preimage(e.device_id, e.seq, e.prev_hash, e.event)
        public = key.public_key()
        return envelope.key_id == signing.key_id_of(public) and signing.verify_signature(
            public, preimage, envelope.signature
        )

    handed_to = events_of([rotation])[0].key_rotation
    assert signed_by(before, old_key) and signed_by(rotation, old_key)
    assert handed_to.new_key_id == register.key_id != signing.key_id_of(old_key.public_key())
    assert signed_by(after, register.key) and not signed_by(after, old_key)
    assert register.journal.records()[-3:] == [before, rotation, after]  # resent as these same bytes
    again = make_register(state_dir=tmp_path)
    assert again.key_id == register.key_id and signed_by(again.sell(), register.key)

"""The OFD register simulator against a test double of an OFD behind the real front door transport:
tokens, REQNUMs, resends, offline backlogs, blocking, Z reports, 2.0.2 registers, persistence."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from firmware_sim.catalog import default_catalog
from firmware_sim.ofd.fleet import OfdFleetConfig, ofd_identity, run_ofd_fleet
from firmware_sim.ofd.link import OfdLink, OfdStats
from firmware_sim.ofd.register import OfdRegister
from firmware_sim.ofd.tickets import Basket, Style, build_ticket, tiyn
from firmware_sim.receipts import BasketItem
from gateway.cli.main import main
from gateway.ofd.framing import ResultCode, decode_request, parse_header
from gateway.wire import ofd_pb2
from tests.sim.fake_ofd import FakeOfd, serving

Item = ofd_pb2.TicketRequest.Item


def make_register(index: int = 0, *, version: str = "203", state_dir: Path | None = None) -> OfdRegister:
    """Register `index` of a test fleet."""
    identity = ofd_identity("t", index, 1, version)
    return OfdRegister(identity, rng=random.Random(index), style=Style(version=identity.version),
                       state_dir=state_dir)


@dataclass
class Line:
    """A register, its link to the fake OFD, and a switch for its network."""

    register: OfdRegister
    link: OfdLink
    fake: FakeOfd
    stats: OfdStats
    up: list[bool]

    def headers(self) -> list[tuple[int, int, int]]:
        """(command, token, reqnum) of every request the OFD received, in order."""
        return [(r.command, h.token, h.reqnum) for h, r in self.fake.requests]


@asynccontextmanager
async def line(register: OfdRegister, *, lost_answer_rate: float = 0.0,
               fake: FakeOfd | None = None) -> AsyncIterator[Line]:
    """The register's link running against a fake OFD that knows its first token."""
    fake = fake or FakeOfd()
    fake.tokens[register.identity.ofd_id] = register.identity.first_token
    stats = OfdStats()
    up = [True]
    stopping = [False]
    async with serving(fake) as address:
        link = OfdLink(register, address, stats, rng=random.Random(5), lost_answer_rate=lost_answer_rate,
                       transaction_s=2.0, reconnect_s=0.05)
        task = asyncio.create_task(link.run(lambda: up[0], lambda: stopping[0] and not register.pending))
        try:
            yield Line(register, link, fake, stats, up)
        finally:
            stopping[0] = True
            await asyncio.wait_for(task, 10)


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Wait until condition() holds."""
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.01)


async def test_a_register_starts_up_then_each_request_takes_reqnum_plus_one_and_the_last_token() -> None:
    register = make_register()
    async with line(register) as ofd:
        assert await ofd.link.start_up()
        for _ in range(3):
            await ofd.link.deliver(register.sell())
    headers = ofd.headers()
    assert [h[0] for h in headers] == [ofd_pb2.COMMAND_INFO] + [ofd_pb2.COMMAND_TICKET] * 3
    assert [h[2] for h in headers] == [1, 2, 3, 4]
    first = register.identity.first_token
    assert headers[0][1] == headers[1][1] == first  # INFO keeps the token
    assert len({h[1] for h in headers[1:]}) == 3  # each ticket's answer brought the next token
    assert register.token == ofd.fake.tokens[register.identity.ofd_id]
    assert all(sale["ticket_number"] for sale in register.recent_sales)


async def test_a_lost_answer_is_asked_for_again_with_the_same_bytes_and_comes_back_the_same() -> None:
    register = make_register()
    async with line(register, lost_answer_rate=1.0) as ofd:
        for _ in range(4):
            await ofd.link.deliver(register.sell())
        await ofd.link.deliver(register.close_shift())
    assert ofd.stats.resends == 5 and ofd.stats.replay_mismatches == 0
    assert len(ofd.fake.documents[register.identity.ofd_id]) == 5  # each counted once
    reqnums = [h[2] for h in ofd.headers()]
    assert reqnums == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


async def test_offline_documents_queue_in_order_with_their_own_numbers_and_the_offline_period() -> None:
    register = make_register()
    async with line(register) as ofd:
        await ofd.link.deliver(register.sell())
        ofd.up[0] = False
        await ofd.link.deliver(register.sell())  # caught by the break: made online, never got out
        for _ in range(4):
            await ofd.link.deliver(register.sell())
        await ofd.link.deliver(register.money_placement(ofd_pb2.MONEY_PLACEMENT_WITHDRAWAL, 100))
        assert len(register.pending) == 6 and register.offline
        await asyncio.sleep(0.1)
        ofd.up[0] = True
        await until(lambda: not register.pending)
        assert not register.offline
    requests = [r for _, r in ofd.fake.requests]
    assert [r.command for r in requests] == [ofd_pb2.COMMAND_TICKET, ofd_pb2.COMMAND_SYSTEM,
                                             *[ofd_pb2.COMMAND_TICKET] * 5, ofd_pb2.COMMAND_MONEY_PLACEMENT]
    assert requests[1].service.HasField("offline_period")
    assert all(r.service.HasField("offline_period") for r in requests[2:])
    numbers = [r.ticket.offline_ticket_number for r in requests[2:7]]
    assert numbers[0] == 0 and numbers[1:] == sorted(set(numbers[1:])) and all(numbers[1:])
    assert requests[7].money_placement.is_offline
    assert ofd.stats.offline_documents == 5


async def test_a_document_caught_by_the_break_goes_again_with_its_token_and_reqnum() -> None:
    register = make_register()
    fake = FakeOfd(unavailable=0)
    async with line(register, fake=fake) as ofd:
        await ofd.link.deliver(register.sell())
        fake.unavailable = 1  # the next answer is 254: the register goes offline with the ticket
        await ofd.link.deliver(register.sell())
        await until(lambda: not register.pending)
    headers = ofd.headers()
    assert headers[1][1:] == headers[2][1:]  # the same TOKEN and REQNUM, no SYSTEM in between
    resent = ofd.fake.requests[2][1]
    assert resent.service.HasField("offline_period") and not resent.ticket.offline_ticket_number


async def test_any_refusal_of_a_document_blocks_the_register() -> None:
    register = make_register()
    fake = FakeOfd(refuse={3: ResultCode.INCORRECT_REQUEST_DATA})
    async with line(register, fake=fake) as ofd:
        ofd.up[0] = False
        documents = [register.sell() for _ in range(5)]
        for document in documents:
            await ofd.link.deliver(document)
        ofd.up[0] = True
        await until(lambda: register.blocked is not None)
        with pytest.raises(RuntimeError):
            register.sell()
        register.pending.clear()  # a human removes the queue
    assert register.blocked is not None and register.blocked[0] == ResultCode.INCORRECT_REQUEST_DATA
    assert len(fake.documents[register.identity.ofd_id]) == 2
    assert list(ofd.stats.blocked) == [register.identity.device_id]


async def test_the_z_report_is_what_the_ofd_saw_in_that_shift() -> None:
    register = make_register()
    async with line(register) as ofd:
        await ofd.link.deliver(register.money_placement(ofd_pb2.MONEY_PLACEMENT_DEPOSIT, 20_000_00))
        for _ in range(25):
            await ofd.link.deliver(register.sell())
        await ofd.link.deliver(register.sell_return())
        await ofd.link.deliver(register.money_placement(ofd_pb2.MONEY_PLACEMENT_WITHDRAWAL, 10_000_00))
        await ofd.link.deliver(register.close_shift())
    documents = ofd.fake.documents[register.identity.ofd_id]
    z = documents[-1].close_shift.z_report
    tickets = [d.ticket for d in documents if d.HasField("ticket")]
    by_op = {t.operation for t in tickets}
    assert {op.operation for op in z.ticket_operations} == by_op
    for op in z.ticket_operations:
        mine = [t for t in tickets if t.operation == op.operation]
        assert op.tickets_count == len(mine)
        assert tiyn(op.tickets_sum) == sum(tiyn(t.amounts.total) for t in mine)
        assert tiyn(op.change_sum) == sum(tiyn(t.amounts.change) for t in mine)
    cash = sum(tiyn(p.sum) * (1 if t.operation == ofd_pb2.OPERATION_SELL else -1)
               for t in tickets for p in t.payments if p.type == ofd_pb2.PAYMENT_CASH)
    assert tiyn(z.cash_sum) == 20_000_00 - 10_000_00 + cash
    assert z.shift_number == 1 and z.HasField("close_shift_time") and len(z.checksum) == 8
    assert [(p.operation, p.operations_count) for p in z.money_placements] == [(0, 1), (1, 1)]
    sells = sum(tiyn(t.amounts.total) for t in tickets if t.operation == ofd_pb2.OPERATION_SELL)
    assert {s.operation: tiyn(s.sum) for s in z.non_nullable_sums}[ofd_pb2.OPERATION_SELL] == sells
    assert documents[-1].close_shift.fr_shift_number == 1
    # the next document opens shift 2 by itself
    register.sell()
    assert register.counters.shift_number == 2


def test_receipts_add_up_and_carry_what_2_0_3_asks_for() -> None:
    register = make_register()
    for _ in range(300):
        document = register.sell(buyer=True)
        assert decode_request(document.request.SerializeToString()).complete
        ticket = document.request.ticket
        def items_sum(kind: int, body: str, ticket: ofd_pb2.TicketRequest = ticket) -> int:
            return sum(tiyn(getattr(i, body).sum) for i in ticket.items if i.type == kind)

        goods = items_sum(Item.ITEM_TYPE_COMMODITY, "commodity")
        storno = items_sum(Item.ITEM_TYPE_STORNO_COMMODITY, "storno_commodity")
        discounts = items_sum(Item.ITEM_TYPE_DISCOUNT, "discount")
        markups = items_sum(Item.ITEM_TYPE_MARKUP, "markup")
        loyalty = tiyn(ticket.amounts.discount.sum) if ticket.amounts.HasField("discount") else 0
        total = tiyn(ticket.amounts.total)
        assert total == goods - storno - discounts + markups - loyalty
        assert sum(tiyn(p.sum) for p in ticket.payments) == total
        cash = [tiyn(p.sum) for p in ticket.payments if p.type == ofd_pb2.PAYMENT_CASH]
        if cash:
            assert tiyn(ticket.amounts.taken) - tiyn(ticket.amounts.change) == cash[0]
        for payment in ticket.payments:
            assert payment.HasField("card_payment_fields") == (payment.type == ofd_pb2.PAYMENT_CARD)
            assert payment.HasField("mobile_payment_fields") == (payment.type == ofd_pb2.PAYMENT_MOBILE)
        assert ticket.domain.type == ofd_pb2.DOMAIN_TRADING and ticket.fr_shift_number == 1
        register.pending.clear()
    kinds = {i.type for d in [register.sell() for _ in range(200)] for i in d.request.ticket.items}
    assert {Item.ITEM_TYPE_COMMODITY, Item.ITEM_TYPE_STORNO_COMMODITY, Item.ITEM_TYPE_DISCOUNT,
            Item.ITEM_TYPE_MARKUP} <= kinds


def test_a_2_0_2_register_sends_one_excise_stamp_a_line_and_no_2_0_3_fields() -> None:
    register = make_register(3, version="mixed")
    assert register.identity.version == 202
    tobacco = next(g for g in default_catalog() if g.marking_group == "tobacco")
    codes = ("0104870101000117215Ljs5a\x1d93abcd", "0104870101000117215Ljs5b\x1d93abce")
    ticket = build_ticket(ofd_pb2.OPERATION_SELL, Basket([BasketItem(tobacco, 2000, codes=codes)]),
                          register.style, register.rng)
    lines = [i.commodity for i in ticket.items]
    assert [(line.quantity, line.excise_stamp, list(line.list_excise_stamp)) for line in lines] == [
        (1000, codes[0], []), (1000, codes[1], [])]
    assert not ticket.HasField("domain")
    assert parse_header(register.frame(register.info())).version == 202
    sale = register.sell().request.ticket
    assert sale.printed_document_number == 1 and not sale.HasField("parent_ticket")


def test_reqnum_wraps_to_zero_after_65535() -> None:
    register = make_register()
    register.reqnum = 65534
    assert [parse_header(register.frame(register.info())).reqnum for _ in range(3)] == [65535, 0, 1]


def test_a_register_with_a_state_dir_picks_up_where_it_stopped(tmp_path: Path) -> None:
    register = make_register(state_dir=tmp_path)
    register.token, register.reqnum = 77, 41
    register.go_offline()
    for _ in range(3):
        register.sell()
    first = register.pending[0]
    register.frame(first.request, first)
    again = make_register(state_dir=tmp_path)
    assert again.load()
    assert (again.token, again.reqnum, again.offline_since_ms) == (77, 42, register.offline_since_ms)
    assert [d.request for d in again.pending] == [d.request for d in register.pending]
    assert (again.pending[0].token, again.pending[0].reqnum) == (77, 42)
    assert again.counters.to_json() == register.counters.to_json()


async def test_a_fleet_with_offline_windows_and_lost_answers_ends_with_nothing_queued() -> None:
    fake = FakeOfd()
    async with serving(fake) as address:
        config = OfdFleetConfig(address=address, devices=4, duration_s=3.0, rate=8.0, version="mixed",
                                offline_fraction=0.3, lost_answer_rate=0.1, reconnect_s=0.2, shift_tickets=10,
                                drain_s=60.0, id_prefix="fleet")  # the drain ends when the queues are empty
        for index in range(config.devices):
            identity = ofd_identity("fleet", index, config.seed, config.version)
            fake.tokens[identity.ofd_id] = identity.first_token
        summary = await run_ofd_fleet(config)
    assert summary["blocked"] == {} and summary["replay_mismatches"] == 0, summary
    # An INFO that found no line at start-up is no fault (the register starts offline): at least one did.
    assert summary["documents_queued"] == 0 and summary["started_up"] >= 1, summary
    assert summary["versions"] == [202, 203]
    assert sum(summary["documents_ok"].values()) == sum(len(d) for d in fake.documents.values())
    assert summary["documents_ok"]["CLOSE_SHIFT"] == summary["shifts_closed"] >= 4, summary
    assert not fake.incomplete


async def test_the_ack_log_has_one_line_per_document_answered_whatever_was_resent(tmp_path: Path) -> None:
    fake = FakeOfd()
    log = tmp_path / "acks.jsonl"
    async with serving(fake) as address:
        config = OfdFleetConfig(address=address, devices=2, duration_s=2.0, rate=8.0, offline_fraction=0.3,
                                lost_answer_rate=0.3, reconnect_s=0.2, shift_tickets=6, drain_s=60.0,
                                id_prefix="logged", ack_log=log)
        for index in range(config.devices):
            identity = ofd_identity("logged", index, config.seed, config.version)
            fake.tokens[identity.ofd_id] = identity.first_token
        summary = await run_ofd_fleet(config)
    assert summary["lost_answers"] > 0 and summary["offline_documents"] > 0, summary
    lines = [json.loads(text) for text in log.read_text().splitlines()]
    assert {(line["protocol"], line["result"]) for line in lines} == {("ofd", "OK")}
    for ofd_id, documents in fake.documents.items():
        mine = [line for line in lines if line["ofd_id"] == ofd_id]
        # One line per document the OFD counted, in its order, each with the shift it went into.
        assert [line["command"] for line in mine] == [
            "TICKET" if d.HasField("ticket") else "MONEY_PLACEMENT" if d.HasField("money_placement")
            else "CLOSE_SHIFT" for d in documents]
        body = [d.ticket if d.HasField("ticket") else d.money_placement if d.HasField("money_placement")
                else d.close_shift for d in documents]
        assert [line["shift"] for line in mine] == [b.fr_shift_number for b in body]
        reqnums = [line["reqnum"] for line in mine]
        assert reqnums == sorted(set(reqnums)), "a resend is the same exchange, logged once"
        tickets = [line for line in mine if line["command"] == "TICKET"]
        assert all(line["ticket_number"].startswith("4228") for line in tickets)
        assert [line["lines"] for line in tickets] == [
            sum(1 for item in d.ticket.items if item.type in (Item.ITEM_TYPE_COMMODITY,
                                                              Item.ITEM_TYPE_STORNO_COMMODITY))
            for d in documents if d.HasField("ticket")]
        assert sum(line["offline"] for line in mine) > 0


def test_sim_protocol_ofd_runs_a_fleet_and_prints_its_summary(capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeOfd(learn_tokens=True)
    ready: list[tuple[str, int]] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        async with serving(fake) as address:
            ready.append(address)
            await stop.wait()

    server = threading.Thread(target=loop.run_until_complete, args=(serve(),))
    server.start()
    try:
        while not ready:
            time.sleep(0.01)
        host, port = ready[0]
        code = main(["sim", "--protocol", "ofd", "--ofd", f"{host}:{port}", "--ofd-version", "mixed",
                     "--devices", "4", "--duration", "1.5", "--rate", "5", "--drain", "5", "--json"])
    finally:
        loop.call_soon_threadsafe(stop.set)
        server.join()
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0
    assert summary["protocol"] == "ofd" and summary["devices"] == 4 and summary["versions"] == [202, 203]
    assert summary["documents_ok"]["TICKET"] == sum(
        1 for docs in fake.documents.values() for d in docs if d.HasField("ticket"))


async def test_a_fleet_whose_register_is_refused_mid_step_ends_and_names_it() -> None:
    fake = FakeOfd(refuse={4: ResultCode.NOT_ENOUGH_CASH})
    async with serving(fake) as address:
        config = OfdFleetConfig(address=address, devices=1, duration_s=2.0, rate=20.0, shift_tickets=2,
                                drain_s=2.0, id_prefix="refused")
        identity = ofd_identity("refused", 0, config.seed, config.version)
        fake.tokens[identity.ofd_id] = identity.first_token
        summary = await run_ofd_fleet(config)
    assert list(summary["blocked"]) == [identity.device_id]
    assert "NOT_ENOUGH_CASH" in summary["blocked"][identity.device_id]
    assert len(fake.documents[identity.ofd_id]) == 3  # nothing after the refusal

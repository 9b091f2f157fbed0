"""OFD registers against the real `tracegate serve --ofd-port` process over loopback TCP, on real chDB: a
whole shift of a 2.0.3 register, replays after a lost answer and after a SIGKILL, wrong tokens, a revoked
register, garbage frames and slow senders. One gateway serves the whole module (each test has its own
register); the SIGKILL test restarts it on the same ports."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from firmware_sim.ofd.link import exchange
from gateway.ofd.framing import HEADER, HEADER_SIZE, FrameHeader, ResultCode, decode_response, encode_frame
from gateway.ofd.handler import OfdHandler
from gateway.wire import ofd_pb2
from tests.e2e.conftest import tracegate
from tests.ofd.registers import Register, T, commodity, money, ticket, when, z_report
from tests.reliability.gateway_process import GatewayProcess, free_port

pytestmark = [pytest.mark.clickhouse, pytest.mark.slow]
SELLER = "123456789012"
GTIN = "04600439931256"
READ_TIMEOUT_S = 1.0  # the door's per-read limit in this module: slow senders are cut off quickly


class OverTcp:
    """The gateway's OFD port as an OfdHandler: each exchange on a connection of its own, as registers do."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address

    async def exchange(self, header: FrameHeader, payload: bytes) -> bytes:
        """Send the frame, read the whole answer frame."""
        frame = encode_frame(payload, version=header.version, device_id=header.device_id, token=header.token,
                             reqnum=header.reqnum)
        return await exchange(*self.address, frame, timeout_s=30)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """One gateway with its OFD front door for the module."""
    gw = GatewayProcess(tmp_path_factory.mktemp("ofd-e2e") / "data",
                        serve_args=("--ofd-port", str(free_port())),
                        env={"TRACEGATE_OFD_READ_TIMEOUT_S": str(READ_TIMEOUT_S)})
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()


def ofd_address(gateway: GatewayProcess) -> tuple[str, int]:
    """Where the front door listens, as `serve` wrote it into gateway.json."""
    host, _, port = json.loads((gateway.data / "gateway.json").read_text())["ofd"][0].rpartition(":")
    return host, int(port)


def registered(gateway: GatewayProcess, device_id: str, ofd_id: int, *, token: int = 3_000_000_001,
               kgd_number: str | None = None) -> Register:
    """`devices add --protocol ofd` through the admin API; the register, speaking TCP to the door."""
    status, answer = gateway.admin("POST", "/v1/admin/devices", {
        "device_id": device_id, "protocol": "ofd", "ofd_id": ofd_id, "ofd_token": token,
        "kgd_number": kgd_number or f"0101{ofd_id:08d}", "seller_tin": SELLER, "store_id": "almaty-01"})
    assert status == 201, answer
    handler: OfdHandler = OverTcp(ofd_address(gateway))
    return Register(handler, ofd_id=ofd_id, token=token)


def now_ms() -> int:
    return time.time_ns() // 1_000_000 // 1000 * 1000  # whole seconds: OFD times have no milliseconds


def code(serial: str) -> str:
    """A marking code of the test GTIN, verbatim as a scanner gives it (GS kept)."""
    return f"01{GTIN}21{serial}\x1d93abcd"


def sale_frame(register: Register, name: str, price: int) -> bytes:
    """A new TICKET frame of one item, now (kept, so that it can be sent again as it was)."""
    sale = ticket(now_ms(), [commodity(name, price)])
    return register.frame(ofd_pb2.Request(command=ofd_pb2.COMMAND_TICKET, ticket=sale))


def rows(gateway: GatewayProcess, sql: str) -> list[list[Any]]:
    """A query's rows once everything journalled is in ClickHouse."""
    gateway.wait_drained()
    return gateway.sql(sql)


def events_of(gateway: GatewayProcess, device_id: str) -> list[list[Any]]:
    """(seq, kind, fiscal_sign) of a register's events."""
    return rows(gateway, "SELECT seq, kind, fiscal_sign FROM tracegate.events "
                         f"WHERE device_id = '{device_id}' ORDER BY seq")


def get(gateway: GatewayProcess, path: str, **query: Any) -> Any:
    """A JSON read of the HTTP API with the admin token."""
    target = f"{path}?{urllib.parse.urlencode(query)}" if query else path
    status, _, body = gateway.request("GET", target, token=gateway.token)
    assert status == 200, body
    return json.loads(body)


async def test_a_whole_shift_of_a_203_register_lands_in_clickhouse_and_the_api_like_our_own(
    gateway: GatewayProcess, tmp_path: Path,
) -> None:
    device_id, kgd_number = "KKM-E2E-SHIFT", "010101012345"
    register = registered(gateway, device_id, 700001, kgd_number=kgd_number)
    milk, tobacco = code("E2EMILK01"), code("E2ETOBAC1")
    registry = tmp_path / "registry.jsonl"
    registry.write_text("".join(json.dumps({"code": c, "owner_tin": SELLER, "status": "introduced"}) + "\n"
                                for c in (milk, tobacco)))
    imported = tracegate("codes", "import", str(registry), "--data", str(gateway.data))
    assert "imported 2 codes" in imported.stdout, imported.stdout + imported.stderr
    start = now_ms() - 2 * 3600_000

    info = await register.info()  # what a register asks first
    assert info.result.result_code == ResultCode.OK and info.report.zx_report.shift_number == 0
    assert info.service.reg_info.kkm.fns_kkm_id == kgd_number
    assert (await register.money(start, 1_000_000)).result.result_code == ResultCode.OK  # opens shift 1
    sale = await register.ticket(ticket(start + 60_000, [
        commodity("Milk", 45_000, codes=(milk,), barcode=GTIN),
        commodity("Tobacco", 120_000, codes=(tobacco,), barcode=GTIN),
    ], change=5_000, shift=1))
    assert sale.result.result_code == ResultCode.OK
    number, link = sale.ticket.ticket_number, sale.ticket.qr_code.decode()
    card = await register.ticket(ticket(start + 120_000, [commodity("Bread", 25_000)], card=25_000, cash=0,
                                        shift=1))
    assert card.result.result_code == ResultCode.OK
    back = ticket(start + 180_000, [commodity("Milk", 45_000, codes=(milk,), barcode=GTIN)],
                  operation=ofd_pb2.OPERATION_SELL_RETURN, shift=1, parent_ticket=T.ParentTicket(
                      parent_ticket_number=number, parent_ticket_data_time=when(start + 60_000),
                      kgd_kkm_id=kgd_number, parent_ticket_total=money(165_000),
                      parent_ticket_is_offline=False))
    assert (await register.ticket(back)).result.result_code == ResultCode.OK
    # An offline hour: three receipts numbered by the register, sent in order when the line is back.
    period = ofd_pb2.ServiceRequest.OfflinePeriod(begin_time=when(start + 600_000),
                                                  end_time=when(start + 4_200_000))
    for n in range(3):
        offline = ticket(start + 600_000 + n * 1_200_000, [commodity("Water", 30_000)], shift=1,
                         offline_number=int(start / 1000) + n)
        assert (await register.ticket(offline, offline_period=period)).result.result_code == ResultCode.OK
    cash = 1_000_000 + 165_000 + 3 * 30_000 - 45_000
    z = z_report(start + 4_400_000, 1, (5, 165_000 + 25_000 + 90_000), (1, 45_000), cash, 1_000_000)
    closed = await register.close_shift(start + 4_400_000, z)
    assert closed.result.result_code == ResultCode.OK and closed.report.report == ofd_pb2.REPORT_Z

    events = events_of(gateway, device_id)
    assert [e[1] for e in events] == ["shift_open", "cash_movement", *["receipt"] * 6, "shift_close"]
    assert [e[0] for e in events] == list(range(1, 10)), "one chain, gapless, kept by the gateway"
    assert events[2][2] == number, "the printed fiscal number is the receipt's fiscal sign"
    how = rows(gateway, "SELECT DISTINCT authentication, evidence != '' FROM tracegate.events "
                        f"WHERE device_id = '{device_id}' AND kind != 'shift_open'")
    assert how == [["ofd_token", True]], "authenticated by its token, each document's frame kept as evidence"
    receipts = rows(gateway, "SELECT operation, offline, offline_number > 0, card, parent_fiscal_sign "
                             f"FROM tracegate.receipts WHERE device_id = '{device_id}' ORDER BY seq")
    assert [r[0] for r in receipts] == ["SELL", "SELL", "SELL_RETURN", "SELL", "SELL", "SELL"]
    assert [r[1] for r in receipts] == [False] * 3 + [True] * 3 and all(r[2] for r in receipts[3:])
    assert receipts[1][3] == 25_000 and receipts[2][4] == number
    shifts = rows(gateway, "SELECT shift_number, sell_count, sell_sum, sell_return_count, cash_deposits, "
                           f"cash_in_drawer FROM tracegate.shifts WHERE device_id = '{device_id}'")
    assert shifts == [[1, 5, 280_000, 1, 1_000_000, cash]]
    codes = rows(gateway, "SELECT kind, verdict FROM tracegate.code_events "
                          f"WHERE device_id = '{device_id}' ORDER BY kind, verdict")
    assert codes == [["return", "returned"], ["sale", "valid"], ["sale", "valid"]]
    anomalies = rows(gateway, f"SELECT kind FROM tracegate.anomalies WHERE device_id = '{device_id}'")
    assert anomalies == [], "a Z that agrees with the receipts, codes from the registry: nothing to flag"

    # Through the HTTP API and the CLI, like our own registers' events.
    listed = get(gateway, "/v1/receipts", device=device_id)["items"]
    assert len(listed) == 6 and number in {r["fiscal_sign"] for r in listed}
    one = get(gateway, f"/v1/receipts/{device_id}/3")
    assert one["fiscal_sign"] == number and [line["name"] for line in one["lines"]] == ["Milk", "Tobacco"]
    reports = get(gateway, f"/v1/registers/{device_id}/reports")
    assert [(z["shift_number"], z["cash_in_drawer"]) for z in reports["z_reports"]] == [(1, cash)]
    verified = get(gateway, "/v1/verify", device_id=device_id, seq=3, fiscal_sign=number)
    assert verified["valid"] and verified["total"] == 165_000
    parsed = urllib.parse.urlsplit(link)
    assert parsed.path == "/check" and urllib.parse.parse_qs(parsed.query)["f"] == [kgd_number]
    with urllib.request.urlopen(link, timeout=30) as answer:  # the buyer's phone opens the printed QR code
        assert json.loads(answer.read()) == {"genuine": True, "reason": "this receipt was registered"}
    traced = json.loads(tracegate("trace", "--data", str(gateway.data), "--json", milk).stdout)
    assert (traced["sales"], traced["returns"]) == (1, 1)
    assert {e["device_id"] for e in traced["events"]} == {device_id}


async def test_a_resend_after_a_lost_answer_gets_the_stored_answer_and_counts_nothing(
    gateway: GatewayProcess,
) -> None:
    device_id = "KKM-E2E-LOST"
    register = registered(gateway, device_id, 700002)
    frame = sale_frame(register, "Tea", 10_000)
    _, first, answer = await register.send_frame(frame)
    assert first.result.result_code == ResultCode.OK
    _, again, replayed = await register.send_frame(frame)  # the register never read the first answer
    assert replayed == answer, "the stored answer, byte for byte"
    _, version, _, ofd_id, token, reqnum = HEADER.unpack_from(frame)
    info = ofd_pb2.Request(command=ofd_pb2.COMMAND_INFO).SerializeToString()
    as_info = encode_frame(info, version=version, device_id=ofd_id, token=token, reqnum=reqnum)
    _, refused, _ = await register.send_frame(as_info)  # the same TOKEN and REQNUM with another command
    assert refused.result.result_code == ResultCode.INVALID_RETRY_REQUEST
    assert [e[1] for e in events_of(gateway, device_id)] == ["shift_open", "receipt"], "counted once"
    assert rows(gateway, f"SELECT fiscal_sign FROM tracegate.receipts WHERE device_id = '{device_id}'") == [
        [again.ticket.ticket_number]]


async def test_a_resend_after_the_gateway_was_killed_gets_the_stored_answer(gateway: GatewayProcess) -> None:
    device_id = "KKM-E2E-KILL"
    register = registered(gateway, device_id, 700003)
    frame = sale_frame(register, "Coffee", 80_000)
    _, first, answer = await register.send_frame(frame)
    assert first.result.result_code == ResultCode.OK
    gateway.kill()  # at once: the exchange is in the journal only, nothing shipped yet
    gateway.start()
    _, _, replayed = await register.send_frame(frame)  # the answer was lost with the connection
    assert replayed == answer, "the stored answer survives a SIGKILL, byte for byte"
    follow = await register.ticket(ticket(now_ms(), [commodity("Cake", 50_000)]))  # with the token it gave
    assert follow.result.result_code == ResultCode.OK
    events = events_of(gateway, device_id)
    assert [(e[0], e[1]) for e in events] == [(1, "shift_open"), (2, "receipt"), (3, "receipt")]
    assert [e[2] for e in events[1:]] == [first.ticket.ticket_number, follow.ticket.ticket_number]


async def test_a_wrong_token_is_refused_and_a_revoked_register_is_blocked(gateway: GatewayProcess) -> None:
    device_id = "KKM-E2E-REVOKED"
    register = registered(gateway, device_id, 700004)
    sale = ticket(now_ms(), [commodity("Tea", 10_000)])
    request = ofd_pb2.Request(command=ofd_pb2.COMMAND_TICKET, ticket=sale)
    wrong = await register.send(request, token=register.token + 1)
    assert wrong.result.result_code == ResultCode.INVALID_TOKEN
    assert (await register.send(request)).result.result_code == ResultCode.OK, "the right token still works"
    revoked = tracegate("devices", "revoke", "--data", str(gateway.data), device_id)
    assert "revoked" in revoked.stdout, revoked.stdout + revoked.stderr
    for late in (request, ofd_pb2.Request(command=ofd_pb2.COMMAND_INFO)):
        answer = await register.send(late)
        assert (answer.result.result_code, answer.result.result_text) == (
            ResultCode.BLOCKED, "this register is deregistered")
    assert [e[1] for e in events_of(gateway, device_id)] == ["shift_open", "receipt"], "nothing after"


async def _raw(gateway: GatewayProcess, data: bytes, *, then_eof: bool = False, drip_s: float = 0.0
               ) -> tuple[bytes, float]:
    """Send bytes on a connection of their own (then, with drip_s, one more byte every drip_s); everything
    that came back before the door closed it, and how long that took."""
    reader, writer = await asyncio.open_connection(*ofd_address(gateway))
    began = time.monotonic()

    async def drip() -> None:
        while drip_s:
            await asyncio.sleep(drip_s)
            writer.write(b"\x00")

    dripping = asyncio.create_task(drip())
    answer = b""
    try:
        writer.write(data)
        if then_eof:
            writer.write_eof()
        async with asyncio.timeout(15):
            while chunk := await reader.read(65536):
                answer += chunk
    except ConnectionResetError:
        pass
    finally:
        dripping.cancel()
        writer.close()
    return answer, time.monotonic() - began


def _result(answer: bytes) -> tuple[int, int, int]:
    """(ID, REQNUM, result code) of an answer frame."""
    _, _, size, device_id, _, reqnum = HEADER.unpack_from(answer)
    assert size == len(answer)
    return device_id, reqnum, decode_response(answer[HEADER_SIZE:]).message.result.result_code


async def test_garbage_and_slow_senders_are_cut_off_and_the_door_keeps_serving(
    gateway: GatewayProcess,
) -> None:
    device_id = "KKM-E2E-NEIGHBOUR"
    register = registered(gateway, device_id, 700005)
    header = HEADER.pack  # APPCODE, VERSION, SIZE, ID, TOKEN, REQNUM
    # Not OFD at all: no header to answer to, the connection is cut.
    assert (await _raw(gateway, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"))[0] == b""
    # OFD headers that cannot be used: PROTOCOL_ERROR to their ID and REQNUM, then the end.
    assert _result((await _raw(gateway, header(0x81A2, 203, 10, 700005, 1, 41)))[0]) == (700005, 41, 3)
    assert _result((await _raw(gateway, header(0x81A2, 203, 1 << 30, 700005, 1, 42)))[0]) == (700005, 42, 3)
    cut = header(0x81A2, 203, HEADER_SIZE + 100, 700005, 1, 43) + b"\x08\x01"
    assert _result((await _raw(gateway, cut, then_eof=True))[0]) == (700005, 43, 3)
    junk = b"\xff" * 40  # a whole frame whose payload is no protobuf, with the register's right token
    undecodable = header(0x81A2, 203, HEADER_SIZE + len(junk), 700005, register.token, 44) + junk
    assert _result((await _raw(gateway, undecodable))[0]) == (700005, 44, ResultCode.PROTOCOL_ERROR)

    # Slow senders: half a header that never ends, and a header whose payload trickles in a byte at a time.
    stalled = asyncio.create_task(_raw(gateway, header(0x81A2, 203, 200, 700005, 1, 50)[:10]))
    trickled = asyncio.create_task(_raw(gateway, header(0x81A2, 203, HEADER_SIZE + 50, 700005, 1, 51),
                                        drip_s=0.3))
    # Meanwhile a register is served as usual.
    served = await register.ticket(ticket(now_ms(), [commodity("Tea", 10_000)]))
    assert served.result.result_code == ResultCode.OK
    nothing, took = await stalled
    assert nothing == b"" and took < READ_TIMEOUT_S + 4, "cut off after the read limit"
    answer, took = await trickled
    assert _result(answer) == (700005, 51, ResultCode.PROTOCOL_ERROR)
    assert took < READ_TIMEOUT_S + 4, "cut off after the read limit, not after 50 slow bytes (15 s)"
    # None of it counted: the register's token still works; its receipts are its own two.
    assert (await register.ticket(ticket(now_ms(), [commodity("Cake", 50_000)]))).result.result_code == 0
    assert [e[1] for e in events_of(gateway, device_id)] == ["shift_open", "receipt", "receipt"]
    status, _, metrics = gateway.request("GET", "/metrics")
    assert status == 200
    for reason in ("bad_appcode", "size_too_small", "size_too_large", "truncated", "read_timeout"):
        assert f'tracegate_ofd_protocol_errors_total{{reason="{reason}"}}' in metrics.decode(), reason

"""The real gateway process on real chDB: acks, every documented bad input, verify, restart."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from gateway.wire import pb
from tests.e2e.chain_builder import ChainedRegister, sale
from tests.reliability.gateway_process import PROTOBUF, GatewayProcess

pytestmark = [pytest.mark.clickhouse, pytest.mark.slow]

TIN = "123456789012"


def registered(gateway: GatewayProcess, device_id: str) -> ChainedRegister:
    register = ChainedRegister(device_id)
    status, answer = gateway.admin(
        "POST",
        "/v1/admin/devices",
        {
            "device_id": device_id,
            "seller_tin": TIN,
            "store_id": "almaty-01",
            "public_key_pem": register.public_key_pem,
        },
    )
    assert status == 201, answer
    return register


def error_of(gateway: GatewayProcess, body: bytes, content_type: str | None = PROTOBUF) -> tuple[int, str]:
    status, _, raw = gateway.request("POST", "/v1/batches", body, content_type)
    answer = json.loads(raw)
    assert set(answer) == {"error", "detail", "retryable"} and answer["detail"]
    return status, answer["error"]


def test_request_level_errors_have_status_and_stable_code(gateway: GatewayProcess) -> None:
    assert error_of(gateway, b"\xff\xff\xff") == (400, "malformed_batch")
    assert error_of(gateway, b"") == (400, "empty_body")
    assert error_of(gateway, b"\x0a\x00", "application/json") == (415, "unsupported_media_type")
    assert error_of(gateway, b"\x00" * (16 * 1024 * 1024 + 10)) == (413, "body_too_large")
    tiny = pb.Envelope(device_id="x", seq=1).SerializeToString()
    many = b"".join(b"\x0a" + bytes([len(tiny)]) + tiny for _ in range(10_001))
    assert error_of(gateway, many) == (413, "too_many_envelopes")
    assert gateway.sql("SELECT count() FROM tracegate.events") == [[0]]
    # A path that does not take the method: 405 naming those it does, in the same JSON form.
    status, headers, raw = gateway.request("OPTIONS", "/v1/batches")
    assert (status, json.loads(raw)["error"], headers["Allow"]) == (405, "method_not_allowed", "POST"), raw
    # What aiohttp cannot even parse is refused; the log says so in one line, without a traceback.
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", gateway.port)) as raw_socket:
            raw_socket.sendall(b"POST /v1/batches HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
            assert raw_socket.recv(100).split(b" ")[1] == b"400"
    log = gateway.log_path.read_text()
    assert "malformed HTTP request refused" in log and "Traceback" not in log, log[-2000:]


def test_event_level_rejections_and_duplicates(gateway: GatewayProcess) -> None:
    good = registered(gateway, "KKM-E2E-1")
    first = good.envelope(sale(1000))
    ack = gateway.ingest([first])
    assert ack.acks[0].status == pb.ACCEPTED and ack.acks[0].fiscal_sign
    fiscal_sign = ack.acks[0].fiscal_sign

    # replay: same envelope, same answer
    replay = gateway.ingest([first]).acks[0]
    assert (replay.status, replay.fiscal_sign) == (pb.DUPLICATE, fiscal_sign)

    stranger = ChainedRegister("KKM-UNKNOWN")
    forger = ChainedRegister("KKM-E2E-1")  # same id, another key
    revoked = registered(gateway, "KKM-E2E-2")
    status, _ = gateway.admin("POST", "/v1/admin/devices/KKM-E2E-2/revoke")
    assert status == 200

    bad_sig = good.envelope(sale(1100), advance=False)
    bad_sig.signature = bytes(64)
    other_bytes = good.envelope(sale(1100), advance=False)
    other_bytes.event = sale(9999).SerializeToString()
    fork = good.envelope(sale(2222), seq=1, prev_hash=first.prev_hash, advance=False)
    gap = good.envelope(sale(1300), seq=5, advance=False)
    forged = forger.envelope(sale(1500))
    forged.key_id = good.key_id
    cases = {
        "unknown_device": stranger.envelope(sale()),
        "device_revoked": revoked.envelope(sale()),
        "bad_signature": bad_sig,
        "forged": forged,
        "other_bytes": other_bytes,
        "chain_fork": fork,
        "seq_gap": gap,
    }
    expected = {"forged": "bad_signature", "other_bytes": "bad_signature"}
    for name, envelope in cases.items():
        got = gateway.ingest([envelope]).acks[0]
        assert got.status == pb.REJECTED, name
        assert got.error_code == expected.get(name, name), (name, got.error_code, got.detail)
        assert got.detail and not got.fiscal_sign

    # the chain is intact: the next real event is accepted
    assert gateway.ingest([good.envelope(sale(1700))]).acks[0].status == pb.ACCEPTED
    gateway.wait_shipped(2)
    assert gateway.sql("SELECT device_id, seq FROM tracegate.events ORDER BY seq") == [
        ["KKM-E2E-1", 1],
        ["KKM-E2E-1", 2],
    ]
    rejected = dict(gateway.sql("SELECT error_code, count() FROM tracegate.rejections GROUP BY error_code"))
    assert rejected["chain_fork"] == 1 and rejected["seq_gap"] == 1
    assert gateway.sql("SELECT count() FROM tracegate.anomalies WHERE kind = 'chain_fork'") == [[1]]


def test_wrong_content_is_kept_with_an_anomaly_and_fiscal_sign_verifies(gateway: GatewayProcess) -> None:
    register = registered(gateway, "KKM-E2E-3")
    envelope = register.envelope(sale(1000, lines_sum=900))
    ack = gateway.ingest([envelope]).acks[0]
    assert ack.status == pb.ACCEPTED
    gateway.wait_shipped(1)
    assert gateway.sql("SELECT total FROM tracegate.receipts WHERE device_id = 'KKM-E2E-3'") == [[1000]]
    kinds = [
        row[0] for row in gateway.sql("SELECT kind FROM tracegate.anomalies WHERE device_id = 'KKM-E2E-3'")
    ]
    assert "total_mismatch" in kinds

    status, verdict = gateway.admin(
        "GET", f"/v1/verify?device_id=KKM-E2E-3&seq=1&fiscal_sign={ack.fiscal_sign}"
    )
    assert status == 200 and verdict["valid"] is True and verdict["total"] == 1000
    wrong = ("X" if ack.fiscal_sign[0] != "X" else "Y") + ack.fiscal_sign[1:]
    _, verdict = gateway.admin("GET", f"/v1/verify?device_id=KKM-E2E-3&seq=1&fiscal_sign={wrong}")
    assert verdict["valid"] is False
    # No token needed, and nothing to learn by asking: an unknown device or seq is answered alike.
    for query in ("device_id=KKM-E2E-3&seq=2", "device_id=KKM-NOBODY&seq=1"):
        status, _, raw = gateway.request("GET", f"/v1/verify?{query}&fiscal_sign={wrong}")
        assert (status, json.loads(raw)) == (200, verdict)
    status, _, raw = gateway.request("GET", f"/v1/verify?device_id=x&seq={2**64}&fiscal_sign={wrong}")
    assert (status, json.loads(raw)["error"]) == (400, "malformed_request")
    # And it is rate-limited per address (rate_verify_burst, 20 by default).
    statuses = [gateway.request("GET", f"/v1/verify?device_id=x&seq=1&fiscal_sign={wrong}")[0]
                for _ in range(25)]
    assert statuses.count(429) >= 1


def test_restart_keeps_chain_heads_and_duplicate_answers(gateway: GatewayProcess) -> None:
    register = registered(gateway, "KKM-E2E-4")
    envelopes = [register.envelope(sale(100 * i)) for i in range(1, 6)]
    acks = gateway.ingest(envelopes).acks
    assert [a.status for a in acks] == [pb.ACCEPTED] * 5
    gateway.stop()
    gateway.start()
    again = gateway.ingest(envelopes).acks
    assert [(a.status, a.fiscal_sign) for a in again] == [(pb.DUPLICATE, a.fiscal_sign) for a in acks]
    assert gateway.ingest([register.envelope(sale(600))]).acks[0].status == pb.ACCEPTED
    gateway.wait_shipped(6)
    assert gateway.sql("SELECT count(), uniqExact(seq) FROM tracegate.events") == [[6, 6]]


def test_admin_routes_need_the_token(gateway: GatewayProcess) -> None:
    status, _, _ = gateway.request("GET", "/v1/admin/devices")
    assert status == 401
    status, _, _ = gateway.request("GET", "/v1/admin/devices", token="wrong")
    assert status == 401


def test_an_admin_scope_token_works_on_the_admin_routes_and_others_do_not(gateway: GatewayProcess) -> None:
    status, issued = gateway.admin("POST", "/v1/admin/tokens", {"scope": "admin", "label": "ops"})
    assert status == 201, issued
    status, _, _ = gateway.request("GET", "/v1/admin/devices", token=issued["token"])
    assert status == 200
    status, analyst = gateway.admin("POST", "/v1/admin/tokens", {"scope": "analyst"})
    status, _, body = gateway.request("GET", "/v1/admin/devices", token=analyst["token"])
    assert status == 403 and b"forbidden" in body


def test_a_compromised_key_is_replaced_and_the_chain_goes_on_under_a_new_key(gateway: GatewayProcess) -> None:
    register = registered(gateway, "KKM-E2E-5")
    assert gateway.ingest([register.envelope(sale(100))]).acks[0].status == pb.ACCEPTED
    assert gateway.admin("POST", "/v1/admin/devices/KKM-E2E-5/revoke")[0] == 200
    assert (
        gateway.ingest([register.envelope(sale(200), advance=False)]).acks[0].error_code
        == "device_revoked"
    )

    old_key = register.key
    register.key = ChainedRegister("KKM-E2E-5").key  # the register's new secure element key
    status, answer = gateway.admin(
        "POST",
        "/v1/admin/devices",
        {
            "device_id": "KKM-E2E-5",
            "seller_tin": TIN,
            "store_id": "almaty-01",
            "public_key_pem": register.public_key_pem,
        },
    )
    assert status == 201 and answer["status"] == "active", answer
    assert gateway.ingest([register.envelope(sale(300))]).acks[0].status == pb.ACCEPTED
    stolen = register.envelope(sale(400), advance=False, key=old_key)
    assert gateway.ingest([stolen]).acks[0].status == pb.REJECTED


def test_a_stranger_cannot_blame_a_sellers_register_nor_fill_the_journal(tmp_path: Path) -> None:
    gateway = GatewayProcess(tmp_path / "data", env={
        "TRACEGATE_RATE_UNPROVEN_BURST": "40", "TRACEGATE_RATE_UNPROVEN_PER_S": "0.001"})
    gateway.start()
    try:
        victim = registered(gateway, "KKM-VICTIM")
        # 300 envelopes in the victim's name with signatures that do not verify, then 100 of made-up devices:
        # all answered as refusals, whoever sent them.
        forged = []
        for seq in range(1, 301):
            envelope = victim.envelope(sale(100 + seq), seq=seq, advance=False)
            envelope.signature = bytes([1]) * 64
            forged.append(envelope)
        acks = gateway.ingest(forged).acks
        assert {(a.status, a.error_code) for a in acks} == {(pb.REJECTED, "bad_signature")}
        # An id or hash far past its limit is kept cut to it, with no event bytes: a few hundred bytes.
        huge = victim.envelope(sale(1), advance=False)
        huge.device_id, huge.key_id = "HUGE-" + "x" * 1_000_000, "k" * 1_000_000
        assert gateway.ingest([huge]).acks[0].error_code == "field_too_long"
        strangers = [ChainedRegister(f"MADE-UP-{n}").envelope(sale()) for n in range(100)]
        acks = gateway.ingest(strangers).acks
        assert {(a.status, a.error_code) for a in acks} == {(pb.REJECTED, "unknown_device")}
        # What the victim's register does sign is the seller's own doing, refusals included.
        assert gateway.ingest([victim.envelope(sale(1000))]).acks[0].status == pb.ACCEPTED
        gap_envelope = victim.envelope(sale(1300), seq=5, advance=False)
        gap = gateway.ingest([gap_envelope]).acks[0]
        assert gap.error_code == "seq_gap"
        # Its copies, replayed or resent while the gap stays open, are answered alike and not kept again.
        for copies in (1, 1, 5):
            acks = gateway.ingest([gap_envelope] * copies).acks
            assert {a.error_code for a in acks} == {"seq_gap"}
        gateway.wait_shipped(1)
        assert gateway.sql(
            "SELECT length(device_id), length(envelope) < 400 FROM tracegate.rejections"
            " WHERE startsWith(device_id, 'HUGE-')"
        ) == [[64, 1]]
        rows = gateway.sql(
            "SELECT error_code, seller_tin, detail FROM tracegate.rejections "
            "WHERE device_id = 'KKM-VICTIM' ORDER BY error_code"
        )
        # One row for the 300 forgeries, naming no seller; the gap names the seller.
        assert [(code, tin) for code, tin, _ in rows] == [("bad_signature", ""), ("seq_gap", TIN)], rows
        assert rows[0][2].endswith("(and 299 more like it in the same request)"), rows[0][2]
        # The sender's budget (40) bounds what the made-up devices leave behind: the rest is only counted.
        kept = gateway.sql("SELECT count() FROM tracegate.rejections WHERE startsWith(device_id, 'MADE-UP-')")
        assert kept == [[38]], kept  # the forgeries and the huge one took two records of the 40
        _, _, metrics = gateway.request("GET", "/metrics")
        assert b"tracegate_refusals_unrecorded_total 62" in metrics
        reconciled = gateway.sql(
            f"SELECT count() FROM tracegate.rejections WHERE seller_tin = '{TIN}'"
        )
        assert reconciled == [[1]]
    finally:
        gateway.stop()


def test_a_batch_carries_only_the_device_its_header_names(gateway: GatewayProcess) -> None:
    first, second = registered(gateway, "KKM-HDR-1"), registered(gateway, "KKM-HDR-2")
    body = pb.IngestBatch(envelopes=[first.envelope(sale()), second.envelope(sale())]).SerializeToString()
    status, _, raw = gateway.request(
        "POST", "/v1/batches", body, PROTOBUF, headers={"X-Device-Id": "KKM-HDR-1"}
    )
    answer = json.loads(raw)
    assert (status, answer["error"]) == (400, "device_mismatch"), answer
    assert answer["detail"] == "envelope 2 is for another device than X-Device-Id"
    status, _, raw = gateway.request(
        "POST", "/v1/batches", body, PROTOBUF, headers={"X-Device-Id": "KKM-HDR-1, KKM-HDR-2"}
    )
    assert (status, json.loads(raw)["error"]) == (400, "device_mismatch")
    assert gateway.sql("SELECT count() FROM tracegate.rejections") == [[0]]

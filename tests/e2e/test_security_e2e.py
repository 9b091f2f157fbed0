"""Security on the real gateway process: rotation across restart, sealed buyer data, forget, audit, limits."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from gateway.wire import pb, signing
from tests.e2e.chain_builder import ChainedRegister, sale
from tests.reliability.gateway_process import PROTOBUF, GatewayProcess

pytestmark = [pytest.mark.clickhouse, pytest.mark.slow]

TIN = "123456789012"
EMAIL, PHONE, IIN = "zhanna.secret@example.kz", "+77019998877", "850505400321"


def _register(gateway: GatewayProcess, device_id: str) -> ChainedRegister:
    register = ChainedRegister(device_id)
    status, answer = gateway.admin(
        "POST",
        "/v1/admin/devices",
        {
            "device_id": device_id,
            "seller_tin": TIN,
            "store_id": "s1",
            "public_key_pem": register.public_key_pem,
        },
    )
    assert status == 201, answer
    return register


def _rotation(register: ChainedRegister) -> pb.Envelope:
    new_key = signing.new_private_key()
    point = new_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    event = sale(1)
    event.ClearField("receipt")
    event.key_rotation.CopyFrom(
        pb.KeyRotation(new_public_key=point, new_key_id=signing.key_id_of(new_key.public_key()))
    )
    envelope = register.envelope(event)
    register.key = new_key
    return envelope


def test_security_end_to_end(gateway: GatewayProcess) -> None:
    register = _register(gateway, "KKM-SEC-1")
    # Key rotation: signed by the old key, the chain goes on under the new one, and survives a restart.
    old_key = register.key
    batch = [register.envelope(sale(100)), _rotation(register), register.envelope(sale(200))]
    acks = gateway.ingest(batch)
    assert [a.status for a in acks.acks] == [pb.ACCEPTED] * 3
    gateway.stop()
    gateway.start()
    # The ack was lost: the same bytes again, two of them signed by the key rotated away since.
    gateway.wait_shipped(3)
    again = gateway.ingest(batch)
    assert [a.status for a in again.acks] == [pb.DUPLICATE] * 3
    assert [a.fiscal_sign for a in again.acks] == [a.fiscal_sign for a in acks.acks]
    assert gateway.ingest([register.envelope(sale(300))]).acks[0].status == pb.ACCEPTED
    stale = ChainedRegister("KKM-SEC-1", key=old_key, seq=register.seq, head=register.head)
    rejected = gateway.ingest([stale.envelope(sale(400), advance=False)]).acks[0]
    assert (rejected.status, rejected.error_code) == (pb.REJECTED, "unknown_key")

    # Buyer data: with consent sealed, without consent not kept; AI labels stored and flagged.
    with_consent = sale(500)
    with_consent.receipt.buyer.CopyFrom(
        pb.BuyerContacts(
            email=EMAIL,
            phone=PHONE,
            iin=IIN,
            consent_purpose="e-receipt",
            consent_expires_ms=with_consent.time_ms + 86_400_000,
        )
    )
    with_consent.receipt.lines[0].ai_label = "ai/1;src=trainedAlgorithmicMedia;tool=gen-2"
    no_consent = sale(600)
    no_consent.receipt.buyer.CopyFrom(pb.BuyerContacts(phone=PHONE))
    no_consent.receipt.lines[0].ai_label = "made by AI!"
    acks = gateway.ingest([register.envelope(with_consent), register.envelope(no_consent)])
    assert [a.status for a in acks.acks] == [pb.ACCEPTED, pb.ACCEPTED]
    gateway.wait_shipped(6)
    assert gateway.sql(
        "SELECT protection, length(event) > 0 FROM tracegate.events WHERE seq >= 5 ORDER BY seq"
    ) == [["sealed", 1], ["erased", 0]]
    assert gateway.sql("SELECT count() FROM tracegate.receipt_buyers_live") == [[1]]
    leaked = gateway.sql(f"SELECT count() FROM tracegate.events WHERE position(event, '{PHONE}') > 0")
    assert leaked == [[0]]
    assert gateway.sql(
        "SELECT kind FROM tracegate.anomalies WHERE kind IN "
        "('pii_without_consent', 'bad_ai_label') ORDER BY kind"
    ) == [["bad_ai_label"], ["pii_without_consent"]]
    assert gateway.sql(
        "SELECT seller_tin, count() FROM tracegate.receipt_lines WHERE ai_source != '' GROUP BY seller_tin"
    ) == [[TIN, 1]]

    # Forget: the count proves it, and nothing is left to find.
    status, answer = gateway.admin("POST", "/v1/admin/pii/forget", {"phone": "8 701 999 88 77"})
    assert status == 200 and (answer["erased"], answer["remaining"], answer["unshipped"]) == (1, 0, 0)
    assert gateway.sql("SELECT count() FROM tracegate.receipt_buyers") == [[0]]

    # Hostile input never comes back in an answer.
    hostile = "<script>alert(1)</script>' OR 1=1 --"
    for path, body, ctype in [
        (
            "/v1/batches",
            pb.IngestBatch(envelopes=[pb.Envelope(device_id=hostile, seq=1)]).SerializeToString(),
            PROTOBUF,
        ),
        ("/v1/batches", hostile.encode(), PROTOBUF),
        ("/v1/admin/pii/forget", json.dumps({"email": hostile}).encode(), "application/json"),
        (f"/v1/admin/devices/{'%3Cscript%3E'}/revoke", b"", None),
    ]:
        _, _, raw = gateway.request("POST", path, body, ctype, gateway.token)
        text = raw.decode("utf-8", "replace") if not raw.startswith(b"\n") else ""
        assert "<script>" not in text and "alert(1)" not in text

    # Revoke from a seq: stored events from it flagged, new ones refused, all audited.
    status, answer = gateway.admin("POST", "/v1/admin/devices/KKM-SEC-1/revoke-from", {"from_seq": 4})
    assert status == 200 and answer["flagged"] == 3
    assert gateway.sql(
        "SELECT groupArray(seq) FROM (SELECT seq FROM tracegate.anomalies "
        "WHERE kind = 'signed_after_compromise' ORDER BY seq)"
    ) == [[[4, 5, 6]]]
    refused = gateway.ingest([register.envelope(sale(700))]).acks[0]
    assert refused.error_code == "device_revoked"
    _, audit = gateway.admin("GET", "/v1/admin/audit")
    actions = [(row["action"], row["principal"]) for row in audit["audit"]]
    assert ("device_added", "admin-file") in actions and ("data_erased", "admin-file") in actions
    assert ("device_revoked", "admin-file") in actions
    assert all(PHONE not in json.dumps(row) for row in audit["audit"])
    status, _ = gateway.admin("GET", "/v1/admin/audit?since_ms=%EF%BC%91")  # a full-width 1 is no number
    assert status == 400

    # Nothing personal in the gateway's own output (of both its runs).
    gateway.stop()
    output = gateway.log_path.read_text()
    assert "tracegate gateway serving" in output  # the scan reads the real output
    for secret in (EMAIL, PHONE, IIN, "zhanna"):
        assert secret not in output
    assert (gateway.data / "journal").stat().st_mode & 0o077 == 0
    # The whole data directory is the service user's: ClickHouse's parts, the journal, the keys.
    assert gateway.data.stat().st_mode & 0o077 == 0
    shared = [str(p) for p in gateway.data.rglob("*") if not p.is_symlink() and p.stat().st_mode & 0o077]
    assert shared == []


def test_expired_consent_hides_the_buyer_at_once_and_a_ttl_removes_it(gateway: GatewayProcess) -> None:
    register = _register(gateway, "KKM-SEC-2")
    receipt = sale(700)
    receipt.receipt.buyer.CopyFrom(
        pb.BuyerContacts(phone=PHONE, consent_purpose="e-receipt", consent_expires_ms=receipt.time_ms + 4_000)
    )
    assert gateway.ingest([register.envelope(receipt)]).acks[0].status == pb.ACCEPTED
    gateway.wait_shipped(1)
    assert gateway.sql("SELECT count() FROM tracegate.receipt_buyers_live") == [[1]]

    time.sleep(max(0.0, (receipt.time_ms + 4_500) / 1000 - time.time()))
    # Expired: no reader sees it any more, although the TTL merge may not have run yet …
    assert gateway.sql("SELECT count() FROM tracegate.receipt_buyers_live") == [[0]]
    # … and ClickHouse itself deletes it at the next merge.
    [[ddl]] = gateway.sql(
        "SELECT create_table_query FROM system.tables "
        "WHERE database = 'tracegate' AND name = 'receipt_buyers'"
    )
    assert "TTL toDateTime(consent_expires_at)" in ddl


def test_forget_covers_a_receipt_not_shipped_yet(tmp_path: Path) -> None:
    # The shipper waits seconds between small batches here: the receipt is only in the journal when the
    # request comes, and must not land afterwards.
    gateway = GatewayProcess(tmp_path / "data", env={"TRACEGATE_SHIPPER_INTERVAL_S": "4"})
    gateway.start()
    try:
        register = _register(gateway, "KKM-SEC-3")
        gateway.wait_shipped(0)
        receipt = sale(800)
        receipt.receipt.buyer.CopyFrom(pb.BuyerContacts(
            phone=PHONE, consent_purpose="e-receipt", consent_expires_ms=receipt.time_ms + 86_400_000
        ))
        assert gateway.ingest([register.envelope(receipt)]).acks[0].status == pb.ACCEPTED
        status, answer = gateway.admin("POST", "/v1/admin/pii/forget", {"phone": PHONE})
        assert status == 200, answer
        assert (answer["erased"], answer["remaining"], answer["unshipped"]) == (1, 0, 0)
        gateway.wait_shipped(1)
        assert gateway.sql("SELECT count() FROM tracegate.receipt_buyers") == [[0]]
        assert gateway.sql("SELECT protection, length(event) FROM tracegate.events") == [["erased", 0]]
        journal = b"".join(p.read_bytes() for p in (gateway.data / "journal").glob("*.seg"))
        assert PHONE.encode() not in journal
    finally:
        gateway.stop()

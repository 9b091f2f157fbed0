"""The audit export from the real gateway process on real embedded chDB, verified offline as a user would.

Registers sign real chains (firmware_sim): a key rotation, buyers' receipts (sealed in storage), a gap
notice; a second seller's register; a third register whose key is revoked as compromised from a seq on and
which goes on under a new key; an OFD register through the OFD front door (its events signed by the
gateway). Each uploads a day at once, so the gateway keeps the newest signature of each upload (and each
rotation's). Exported through the gateway (CLI and HTTP, by an analyst and by a retailer) and from the
data directory with no gateway running, each file is checked by `tracegate verify`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from firmware_sim.device import SHIFT_FLOAT, DeviceIdentity, Register
from firmware_sim.fleet import SELLER_TINS
from firmware_sim.ofd.link import OfdLink, OfdStats
from firmware_sim.ofd.register import OfdIdentity, OfdRegister
from gateway.export.report import EXIT_NOT_AUTHENTIC, EXIT_PASS
from gateway.wire import pb, signing
from tests.e2e.chain_builder import ChainedRegister, sale
from tests.e2e.conftest import tracegate
from tests.fuzz.ofd_run import ofd_address
from tests.reliability.gateway_process import GatewayProcess, free_port

pytestmark = [pytest.mark.clickhouse, pytest.mark.slow]

TIN_A, TIN_B = SELLER_TINS[0], SELLER_TINS[1]
BUYER_DOMAIN = b"@example.kz"


@dataclass
class Loaded:
    """The gateway, its registers' ids and what they sent."""

    gw: GatewayProcess
    a: Register
    b: Register
    c: ChainedRegister
    ofd: OfdIdentity
    revoked_from: int
    reregistered_from: int

    def verify(self, path: Path, *args: str) -> tuple[int, str]:
        done = tracegate("verify", *args, str(path), check=False)
        return done.returncode, done.stdout + done.stderr

    def export(self, out: Path, *args: str) -> str:
        done = tracegate("export", "--data", str(self.gw.data), "-o", str(out), *args, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stderr


def _register(gw: GatewayProcess, body: dict[str, str]) -> None:
    status, answer = gw.admin("POST", "/v1/admin/devices", body)
    assert status in (200, 201), answer


def _upload(gw: GatewayProcess, envelopes: list[pb.Envelope]) -> None:
    acks = gw.ingest(envelopes).acks
    assert [a.status for a in acks] == [pb.ACCEPTED] * len(envelopes), acks


def _working_day(register: Register, rng: random.Random) -> list[pb.Envelope]:
    """A shift with sales (some naming a buyer), a key rotation and events lost and declared."""
    register.open_shift()
    register.cash_movement(pb.CashMovement.DEPOSIT, SHIFT_FLOAT)
    for number in range(24):
        register.sell(buyer=register.random_buyer() if number % 5 == 0 else None)
        if number == 9:
            register.rotate_key()
        if number == 15:
            register.declare_lost(3)
    register.close_shift()
    return [pb.Envelope.FromString(raw) for raw in register.journal.records()]


async def _ofd_day(gw: GatewayProcess, register: OfdRegister) -> OfdStats:
    """An OFD register's shift through the gateway's OFD front door: a few sales and its Z report."""
    address = ofd_address(gw)
    assert address is not None, "the gateway opened no OFD door"
    stats = OfdStats()
    link = OfdLink(register, address, stats, rng=random.Random(6), transaction_s=10.0, reconnect_s=0.1)
    stopping = [False]
    task = asyncio.create_task(link.run(lambda: True, lambda: stopping[0] and not register.pending))
    try:
        assert await link.start_up()
        for number in range(5):
            await link.deliver(register.sell(buyer=number == 2))
        await link.deliver(register.close_shift())
    finally:
        stopping[0] = True
        await asyncio.wait_for(task, 30)
    return stats


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    data = tmp_path_factory.mktemp("export") / "data"
    gw = GatewayProcess(data, serve_args=("--ofd-port", str(free_port())))
    gw.start()
    try:
        a = Register(
            DeviceIdentity("KKM-EXP-A", TIN_A, "ALA-101"), signing.new_private_key(), rng=random.Random(1)
        )
        b = Register(
            DeviceIdentity("KKM-EXP-B", TIN_B, "AST-201"), signing.new_private_key(), rng=random.Random(2)
        )
        for register in (a, b):
            _register(gw, register.registration())
        a_events, b_events = _working_day(a, random.Random(3)), _working_day(b, random.Random(4))
        _upload(gw, a_events)
        _upload(gw, b_events)
        c = ChainedRegister("KKM-EXP-C")
        _register(
            gw,
            {
                "device_id": c.device_id,
                "seller_tin": TIN_A,
                "store_id": "ALA-102",
                "public_key_pem": c.public_key_pem,
            },
        )
        _upload(gw, [c.envelope(sale(1000 + i)) for i in range(8)])
        status, answer = gw.admin("POST", f"/v1/admin/devices/{c.device_id}/revoke-from", {"from_seq": 6})
        assert status == 200, answer
        c.key = signing.new_private_key()  # the operator registers the register's new key ...
        _register(
            gw,
            {
                "device_id": c.device_id,
                "seller_tin": TIN_A,
                "store_id": "ALA-102",
                "public_key_pem": c.public_key_pem,
            },
        )
        _upload(gw, [c.envelope(sale(2000 + i)) for i in range(4)])  # ... and its chain goes on under it
        ofd = OfdIdentity(
            "KKM-EXP-OFD", 4242, 3_000_000_007, "010101054321", "SIM0000004242", TIN_B, "AST-202"
        )
        _register(gw, ofd.registration())
        stats = asyncio.run(_ofd_day(gw, OfdRegister(ofd, rng=random.Random(7))))
        assert stats.documents_ok and not stats.blocked, stats.to_json()
        gw.wait_shipped(len(a_events) + len(b_events) + 12 + sum(stats.documents_ok.values()))
        yield Loaded(gw, a, b, c, ofd, revoked_from=6, reregistered_from=9)
    finally:
        gw.stop()


def _records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def test_a_registers_whole_history_exports_and_verifies(loaded: Loaded, tmp_path: Path) -> None:
    out = tmp_path / "a.jsonl"
    summary = loaded.export(out, "--device", loaded.a.identity.device_id)
    assert f"wrote {out}" in summary
    code, printed = loaded.verify(out)
    assert code == EXIT_PASS, printed
    records = _records(out)
    events = [r for r in records if r["record"] == "event"]
    assert [e["seq"] for e in events][:3] == [1, 2, 3] and events[-1]["seq"] == loaded.a.seq
    [device] = [r for r in records if r["record"] == "device"]
    assert [k["source"] for k in device["keys"]] == ["registered", "rotation"]  # type: ignore[index]
    assert len(device["gaps"]) == 1  # type: ignore[arg-type]
    assert "2 key(s); 1 rotation(s) in this export" in printed and "1 signed gap notice(s)" in printed
    # Buyer data stays sealed: their receipts are withheld, hashed and redacted; no contact anywhere.
    withheld = [e for e in events if "protection" in e]
    assert withheld and all(e["protection"] == "sealed" and "event" not in e for e in withheld)
    assert all("event_sha256" in e and "redacted_event" in e for e in withheld)
    assert BUYER_DOMAIN not in out.read_bytes()
    for event in events:
        for field in ("event", "redacted_event"):
            if field in event:
                assert BUYER_DOMAIN not in base64.b64decode(str(event[field]))
    assert "from the gateway's redacted copies" in printed


def test_the_export_key_is_published_and_pins(loaded: Loaded, tmp_path: Path) -> None:
    out = tmp_path / "a.jsonl.gz"
    loaded.export(out, "--device", loaded.a.identity.device_id, "--quiet")
    status, _, body = loaded.gw.request("GET", "/v1/export/key")
    assert status == 200
    key = json.loads(body)
    pem = tmp_path / "export.pem"
    pem.write_text(key["public_key_pem"])
    code, printed = loaded.verify(out, "--export-key", str(pem))
    assert code == EXIT_PASS, printed
    assert f"signed by export key {key['key_id']}" in printed and "file's own claim" not in printed
    wrong = tmp_path / "other.pem"
    wrong.write_text(signing.public_key_pem(signing.new_private_key().public_key()))
    assert loaded.verify(out, "--export-key", str(wrong))[0] == EXIT_NOT_AUTHENTIC


def test_a_slice_by_seq_and_by_time(loaded: Loaded, tmp_path: Path) -> None:
    device = loaded.a.identity.device_id
    by_seq = tmp_path / "slice.jsonl"
    summary = loaded.export(by_seq, "--device", device, "--from-seq", "5", "--to-seq", "17")
    code, printed = loaded.verify(by_seq)
    assert code == EXIT_PASS, printed
    records = _records(by_seq)
    seqs = [r["seq"] for r in records if r["record"] == "event"]
    assert seqs[0] == 5 and seqs[-1] == 17
    assert "from seq 5, whose prev_hash the manifest attests" in printed
    # The day went up in one request: seq 17's signature was not kept, a later one covers it. The events
    # after the range up to that one follow as proof records: digests, no content, counted apart.
    proofs = [r for r in records if r["record"] == "proof"]
    assert proofs and proofs[0]["seq"] > 17 and proofs[-1]["signature"]
    assert all("event" not in p and "event_sha256" in p for p in proofs)
    assert not any(p["signature"] for p in proofs[:-1])
    assert records[-2]["events"] == 13 and records[-2]["proof_events"] == len(proofs)
    assert f"{len(proofs)} proof record(s) after the range" in printed
    assert f"13 events (and {len(proofs)} proof records)" in printed
    assert f"13 events (and {len(proofs)} proof records after the range)" in summary
    where = f"device_id = '{device}'"
    [(since_ms,)] = loaded.gw.sql(
        f"SELECT toUnixTimestamp64Milli(event_time) FROM tracegate.events WHERE {where} AND seq = 20"
    )
    [(first,)] = loaded.gw.sql(
        f"SELECT min(seq) FROM tracegate.events WHERE {where} AND "
        f"event_time >= fromUnixTimestamp64Milli({since_ms}, 'UTC')"
    )
    by_time = tmp_path / "since.jsonl"
    loaded.export(by_time, "--device", device, "--since", str(since_ms))
    assert loaded.verify(by_time)[0] == EXIT_PASS
    assert next(r["seq"] for r in _records(by_time) if r["record"] == "event") == first


def test_a_compromised_key_fails_from_its_revocation_point(loaded: Loaded, tmp_path: Path) -> None:
    out = tmp_path / "c.jsonl"
    loaded.export(out, "--device", loaded.c.device_id)
    code, printed = loaded.verify(out)
    assert code == EXIT_NOT_AUTHENTIC, printed
    failed = [line for line in printed.splitlines() if line.startswith("FAIL")]
    # Seq 1..8 went up in one request, so the gateway kept seq 8's signature only: it covers 1..7 through
    # the chain. Made after the revocation point by the compromised key, it proves nothing, so the events
    # before the point are unproven (not shown forged: nothing in the file says they were altered).
    before = loaded.revoked_from - 1
    assert failed == [
        f"FAIL  {loaded.c.device_id}  signatures: seq 1..{before}: unproven, not shown forged: none carries "
        f"a signature of its own, and the signature that covers them, at seq {loaded.reregistered_from - 1}, "
        f"was signed with a key revoked as compromised from seq {loaded.revoked_from} on: it proves nothing",
        f"FAIL  {loaded.c.device_id}  revocation: seq {loaded.revoked_from}..{loaded.reregistered_from - 1}: "
        f"signed with a key revoked as compromised from seq {loaded.revoked_from} on",
    ]
    assert (
        f"from seq {loaded.reregistered_from}: key {loaded.c.key_id}, registered by the operator" in printed
    )


def test_the_newest_events_without_a_signature_yet_are_said_to_be_so(loaded: Loaded, tmp_path: Path) -> None:
    gw = loaded.gw
    register = ChainedRegister("KKM-EXP-E")
    _register(
        gw,
        {
            "device_id": register.device_id,
            "seller_tin": TIN_B,
            "store_id": "AST-203",
            "public_key_pem": register.public_key_pem,
        },
    )
    stored = gw.admin("GET", "/v1/admin/summary")[1]["events_stored"]
    # Three sales and a rotation to no valid key, in one request: the rotation's signature (the newest of
    # the run) authenticates the sales, then the rotation itself is refused. Storage keeps the sales
    # without signatures, and nothing yet that covers them.
    to_nowhere = pb.Event(time_ms=sale().time_ms, key_rotation=pb.KeyRotation(new_public_key=b"\x04" * 65))
    envelopes = [register.envelope(sale(3000 + i)) for i in range(3)]
    envelopes.append(register.envelope(to_nowhere, advance=False))
    acks = gw.ingest(envelopes).acks
    assert [a.status for a in acks] == [pb.ACCEPTED] * 3 + [pb.REJECTED], acks
    assert acks[3].error_code == "invalid_rotation"
    gw.wait_shipped(stored + 3)
    out = tmp_path / "e.jsonl"
    summary = loaded.export(out, "--device", register.device_id)
    assert f"note: {register.device_id}: its newest events (to seq 3) carry no signature yet" in summary
    code, printed = loaded.verify(out)
    assert code == EXIT_PASS, printed
    assert f"NOTE  {register.device_id}  signatures: seq 1..3: no signature yet" in printed
    # The register's next upload brings a signature that covers them.
    _upload(gw, [register.envelope(sale(3100))])
    gw.wait_shipped(stored + 4)
    summary = loaded.export(out, "--device", register.device_id)
    assert "no signature yet" not in summary
    code, printed = loaded.verify(out)
    assert code == EXIT_PASS and "no signature yet" not in printed, printed
    assert f"PASS  {register.device_id}  signatures: 4 events proven" in printed


def test_erased_buyers_receipts_export_with_every_signature_checked(loaded: Loaded, tmp_path: Path) -> None:
    """Receipts whose buyer data is erased (no consent at ingest, or forgotten later) keep the digest of
    their signed bytes: the export carries it, and the verifier checks their signatures and the chain
    through them as for any event, with nothing left to the gateway's word."""
    gw = loaded.gw
    register = Register(
        DeviceIdentity("KKM-EXP-F", TIN_B, "AST-204"), signing.new_private_key(), rng=random.Random(8)
    )
    _register(gw, register.registration())
    stored = gw.admin("GET", "/v1/admin/summary")[1]["events_stored"]
    no_consent = pb.BuyerContacts(email="walk-in@example.kz")  # no consent: erased at ingest
    register.open_shift()
    consented = register.random_buyer()  # sealed, then forgotten on the buyer's request
    register.sell(buyer=no_consent)  # the newest of its upload: its own signature is kept
    _upload(gw, [pb.Envelope.FromString(raw) for raw in register.journal.records()])
    sent = len(register.journal.records())
    register.sell(buyer=no_consent)  # inside the next upload: a later signature covers it through it
    register.sell(buyer=consented)
    register.sell()
    register.close_shift()
    envelopes = [pb.Envelope.FromString(raw) for raw in register.journal.records()]
    _upload(gw, envelopes[sent:])
    gw.wait_shipped(stored + len(envelopes))
    status, answer = gw.admin("POST", "/v1/admin/pii/forget", {"email": consented.email})
    assert status == 200 and (answer["erased"], answer["remaining"]) == (1, 0), answer
    device = register.identity.device_id
    erased = {e.seq for e in envelopes if pb.Event.FromString(e.event).receipt.HasField("buyer")}
    assert len(erased) == 3
    # Stored by both row paths (receipts by the chDB views, the shift's events in Python): the digest of
    # exactly the bytes the register signed, whatever is kept of them.
    rows = gw.sql(
        "SELECT seq, lower(hex(event_sha256)), protection FROM tracegate.events "
        f"WHERE device_id = '{device}' ORDER BY seq"
    )
    assert rows == [
        [e.seq, hashlib.sha256(e.event).hexdigest(), "erased" if e.seq in erased else ""] for e in envelopes
    ]

    out = tmp_path / "f.jsonl"
    loaded.export(out, "--device", device)
    withheld = [r for r in _records(out) if r["record"] == "event" and "protection" in r]
    assert [(r["seq"], r["protection"]) for r in withheld] == [(seq, "erased") for seq in sorted(erased)]
    by_seq = {e.seq: e for e in envelopes}
    for record in withheld:
        assert record["event_sha256"] == hashlib.sha256(by_seq[int(str(record["seq"]))].event).hexdigest()
        assert "envelope_hash" not in record and "event" not in record
    assert BUYER_DOMAIN not in out.read_bytes()
    code, printed = loaded.verify(out, "--every-signature")
    assert code == EXIT_PASS, printed
    assert f"PASS  {device}  signatures: {len(envelopes)} events proven" in printed, printed
    assert "attested by the gateway" not in printed and "without its digest" not in printed, printed


def test_a_retailer_exports_its_own_devices_only(loaded: Loaded, tmp_path: Path) -> None:
    token = json.loads(
        tracegate(
            "tokens", "issue", "--data", str(loaded.gw.data), "--scope", "retailer", "--tin", TIN_A, "--json"
        ).stdout
    )["token"]
    theirs = loaded.gw.request("GET", f"/v1/export?device={loaded.b.identity.device_id}", token=token)
    missing = loaded.gw.request("GET", "/v1/export?device=KKM-NOBODY", token=token)
    assert theirs[0] == missing[0] == 404
    assert json.loads(theirs[2])["detail"].replace(loaded.b.identity.device_id, "X") == json.loads(
        missing[2]
    )["detail"].replace("KKM-NOBODY", "X")
    assert loaded.gw.request("GET", f"/v1/export?tin={TIN_B}", token=token)[0] == 403
    status, headers, body = loaded.gw.request("GET", "/v1/export", token=token)
    assert status == 200 and headers["Content-Type"].startswith("application/x-ndjson")
    out = tmp_path / "mine.jsonl"
    out.write_bytes(body)
    devices = [r["device_id"] for r in _records(out) if r["record"] == "device"]
    assert sorted(devices) == sorted([loaded.a.identity.device_id, loaded.c.device_id])
    events = [r for r in _records(out) if r["record"] == "event"]
    assert int(headers["X-Export-Events"]) == len(events)
    code, printed = loaded.verify(out)
    assert code == EXIT_NOT_AUTHENTIC and "revocation" in printed  # C's compromised stretch, nothing else
    assert f"PASS  {loaded.a.identity.device_id}  signatures" in printed
    assert (
        f"exported by {json.loads(loaded.gw.request('GET', '/v1/whoami', token=token)[2])['token_id']}"
        in printed
    )


def test_an_analyst_exports_a_seller_and_the_audit_log_says_so(loaded: Loaded, tmp_path: Path) -> None:
    token = json.loads(
        tracegate("tokens", "issue", "--data", str(loaded.gw.data), "--scope", "analyst", "--json").stdout
    )["token"]
    out = tmp_path / "b.jsonl"
    loaded.export(out, "--tin", TIN_B, "--token", token)
    assert loaded.verify(out)[0] == EXIT_PASS
    audit = loaded.gw.admin("GET", "/v1/admin/audit")[1]["audit"]
    assert any(r["action"] == "exported" and r["target"] == TIN_B for r in audit), audit


def test_without_a_gateway_the_data_directory_is_read_and_ofd_registers_are_gateway_attested(
    loaded: Loaded, tmp_path: Path
) -> None:
    loaded.gw.stop()
    try:
        out = tmp_path / "offline.jsonl"
        loaded.export(out, "--device", loaded.ofd.device_id)
        code, printed = loaded.verify(out)
        assert code == EXIT_PASS, printed
        assert "events are attested by the gateway, not by the device (ofd" in printed
        assert "exported by local:" in printed
        records = _records(out)
        [device] = [r for r in records if r["record"] == "device"]
        assert (device["protocol"], device["attested_by"]) == ("ofd", "gateway")
        # The gateway signs each OFD document itself and keeps every one of those signatures.
        events = [r for r in records if r["record"] == "event"]
        assert len(events) > 5 and all(e["signature"] for e in events)
        assert BUYER_DOMAIN not in out.read_bytes()
    finally:
        loaded.gw.start()

"""Tampering, in the style of the test scenarios of Austria's RKSV verifier: each fails with its message.

Two kinds of file: one edited after export (then the manifest fails too), and one the gateway would have
written for bad data (re-exported, manifest intact), which isolates what the device-level checks say.
"""

from __future__ import annotations

import base64
import re
from dataclasses import replace

import pytest

from gateway.export.records import Revocation
from gateway.export.report import EXIT_NOT_AUTHENTIC, EXIT_PASS
from gateway.export.writer import ExportSigner
from gateway.wire import pb, signing
from tests.export.builders import (
    EXPORT_KEY,
    Life,
    Lived,
    export_bytes,
    export_of,
    failures,
    file_of,
    lines_of,
    live,
    record_of,
    verify,
)

DIGEST_CHANGED = "the file's digest differs from the manifest's body_sha256"


@pytest.fixture(scope="module")
def lived() -> Lived:
    """A register with two key rotations, a declared gap and buyers' receipts (withheld in exports)."""
    return live(
        "KKM-TAMPER",
        7,
        Life(shifts=3, receipts_per_shift=(8, 10), rotate_every=9, gap_every=13, buyer_share=0.2),
    )


@pytest.fixture(scope="module")
def other() -> Lived:
    return live("KKM-OTHER", 8)


def _events(records: list[dict[str, object]]) -> list[int]:
    """Indexes of the event records."""
    return [i for i, r in enumerate(records) if r["record"] == "event"]


def _plain_event(records: list[dict[str, object]], after: int = 5, *, signed: bool = False) -> int:
    """Index of an event record, after the first few, whose bytes are in the file (not withheld), carrying
    its own signature or (as most do: a later one covers it) none."""
    return next(
        i
        for i in _events(records)[after:]
        if "event" in records[i] and bool(records[i]["signature"]) == signed
    )


def _reexported(lived: Lived, envelopes: list[pb.Envelope], **record: object) -> bytes:
    entry = replace(record_of(lived, envelopes), **record)  # type: ignore[arg-type]
    return export_bytes([(entry, envelopes)])


def test_an_untouched_export_passes_every_check(lived: Lived, other: Lived) -> None:
    report = verify(export_of(lived, other))
    assert report.exit_status == EXIT_PASS, failures(report)
    passed = {(line.scope, line.check) for line in report.lines if line.status == "PASS"}
    for device in (lived.device_id, other.device_id):
        for check in ("seq", "chain", "signatures", "keys", "revocation", "arithmetic", "z-reports"):
            assert (device, check) in passed
    assert {("export", "file"), ("export", "manifest")} <= passed
    assert report.events == len(lived.envelopes) + len(other.envelopes)


@pytest.mark.parametrize("signed", [True, False], ids=["its own signature", "covered by a later one"])
def test_one_flipped_byte_in_an_event_is_pinned_to_its_seq(lived: Lived, signed: bool) -> None:
    records = lines_of(export_of(lived))
    index = _plain_event(records, signed=signed)
    seq = records[index]["seq"]
    event = bytearray(base64.b64decode(str(records[index]["event"])))
    event[len(event) // 2] ^= 0x01
    records[index]["event"] = base64.b64encode(bytes(event)).decode()
    report = verify(file_of(records))
    assert report.exit_status == EXIT_NOT_AUTHENTIC
    lines = failures(report)
    # The signature that would prove the altered event, its own or the next one's, proves nothing now:
    # the events it covers (up to the altered one) fail, and the link after it breaks.
    if signed:
        assert any(re.search(rf"signatures: seq (\d+\.\.)?{seq}: not signed by key", line) for line in lines)
    else:
        unproven = rf"signatures: seq (\d+\.\.)?{seq}: unproven: .* the chain breaks at seq {seq + 1}"
        assert any(re.search(unproven, line) for line in lines), lines
    assert any(f"chain: seq {seq + 1}: prev_hash is not the hash of seq {seq}" in line for line in lines), (
        lines
    )
    assert any(DIGEST_CHANGED in line for line in lines)


def test_an_event_removed(lived: Lived) -> None:
    records = lines_of(export_of(lived))
    index = _events(records)[4]
    seq = records[index]["seq"]
    del records[index]
    lines = failures(verify(file_of(records)))
    assert any(f"seq: seq {seq} missing: no signed gap notice declares it" in line for line in lines), lines
    assert any("the manifest counts" in line and "events" in line for line in lines)
    assert not any("chain:" in line for line in lines), "one cause, one line: the missing seq"


def test_two_events_swapped(lived: Lived) -> None:
    records = lines_of(export_of(lived))
    first, second = _events(records)[3:5]
    records[first], records[second] = records[second], records[first]
    seq = records[second]["seq"]
    lines = failures(verify(file_of(records)))
    assert any(f"seq: seq {seq} comes after seq {seq + 1}: out of order" in line for line in lines), lines
    assert any(DIGEST_CHANGED in line for line in lines)


def test_an_event_duplicated(lived: Lived) -> None:
    records = lines_of(export_of(lived))
    index = _events(records)[6]
    records.insert(index, dict(records[index]))
    lines = failures(verify(file_of(records)))
    assert any(f"seq: seq {records[index]['seq']} appears twice" in line for line in lines), lines


def test_a_forged_event_signed_with_a_fresh_key(lived: Lived) -> None:
    envelopes = list(lived.envelopes)
    index = 10
    victim, forger = envelopes[index], signing.new_private_key()
    event = pb.Event(
        time_ms=pb.Event.FromString(victim.event).time_ms,
        cash_movement=pb.CashMovement(kind=pb.CashMovement.WITHDRAWAL, sum=500_000_00, shift_number=1),
    )
    forged = pb.Envelope(
        device_id=victim.device_id,
        seq=victim.seq,
        prev_hash=victim.prev_hash,
        event=event.SerializeToString(),
        key_id=signing.key_id_of(forger.public_key()),
    )
    forged.signature = signing.sign(
        forger, signing.event_preimage(forged.device_id, forged.seq, forged.prev_hash, forged.event)
    )
    envelopes[index] = forged
    report = verify(_reexported(lived, envelopes))
    lines = failures(report)
    seq = victim.seq
    assert any(
        f"keys: seq {seq}: the envelope names key {forged.key_id}, the key in force is {victim.key_id}"
        in line
        for line in lines
    ), lines
    # Its signature, not the key in force's, fails with the events before it that it was to cover.
    not_signed = rf"signatures: seq (\d+\.\.)?{seq}: not signed by key {victim.key_id}"
    assert any(re.search(not_signed, line) for line in lines), lines
    assert any(f"chain: seq {seq + 1}: prev_hash is not the hash of seq {seq}" in line for line in lines)
    assert report.exit_status == EXIT_NOT_AUTHENTIC


def test_a_rotation_not_signed_by_the_key_it_replaces(lived: Lived) -> None:
    one_rotation = live("KKM-ROT", 3, Life(shifts=1, receipts_per_shift=(8, 8), rotate_every=4))
    one_rotation.envelopes = one_rotation.envelopes[
        : next(
            i
            for i, e in enumerate(one_rotation.envelopes)
            if pb.Event.FromString(e.event).HasField("key_rotation")
        )
        + 4
    ]
    [rotation] = [e for e in one_rotation.envelopes if pb.Event.FromString(e.event).HasField("key_rotation")]
    # Signed by the new key (the register's key now), not by the old one it hands the chain over from.
    rotation.signature = signing.sign(
        one_rotation.register.key,
        signing.event_preimage(rotation.device_id, rotation.seq, rotation.prev_hash, rotation.event),
    )
    lines = failures(verify(export_bytes([(record_of(one_rotation), one_rotation.envelopes)])))
    old_key = rotation.key_id
    assert any(
        f"keys: seq {rotation.seq}: the key rotation is not signed by the key it replaces ({old_key})" in line
        for line in lines
    ), lines
    assert any(
        f"seq {rotation.seq + 1}..{one_rotation.envelopes[-1].seq}: signed with key" in line
        and "which no authentic rotation handed the chain to" in line
        for line in lines
    ), lines


def test_events_after_a_revocation_point(lived: Lived) -> None:
    revoked_from = 12
    compromised = Revocation(revoked_from, 1_790_000_500_000, compromised=True)
    lines = failures(
        verify(_reexported(lived, lived.envelopes, revocations=(compromised,), status="revoked"))
    )
    last = lived.envelopes[-1].seq
    revoked = (
        f"FAIL  {lived.device_id}  revocation: seq {revoked_from}..{last}: signed with a key revoked as "
        f"compromised from seq {revoked_from} on"
    )
    # The events just before the point carry no signature of their own (the gateway kept the newest of
    # their upload only), and the one that covers them was made after the point with the compromised key:
    # nothing proves them. They were not shown forged either, and the verdict says so.
    before = [e for e in lived.envelopes if e.seq < revoked_from]
    signed = max(e.seq for e in before if e.signature)
    unsigned = [e.seq for e in before if e.seq > signed]
    assert unsigned, "the point must cut a stretch for this test"
    cover = next(e.seq for e in lived.envelopes if e.seq >= revoked_from and e.signature)
    assert lines == [
        f"FAIL  {lived.device_id}  signatures: seq {unsigned[0]}..{unsigned[-1]}: unproven, not shown "
        "forged: none carries a signature of its own, and the signature that covers them, at seq "
        f"{cover}, was signed with a key revoked as compromised from seq {revoked_from} on: it proves "
        "nothing",
        revoked,
    ]
    # A point right after a signed event leaves nothing before it unproven.
    compromised = Revocation(signed + 1, 1_790_000_500_000, compromised=True)
    lines = failures(
        verify(_reexported(lived, lived.envelopes, revocations=(compromised,), status="revoked"))
    )
    assert lines == [revoked.replace(f"seq {revoked_from}", f"seq {signed + 1}")]
    # Revoked after its last event: nothing was signed after the point, so it passes.
    after_the_end = Revocation(last + 1, 1_790_000_500_000, compromised=False)
    report = verify(_reexported(lived, lived.envelopes, revocations=(after_the_end,), status="revoked"))
    assert report.exit_status == EXIT_PASS, failures(report)


def test_an_edited_manifest(lived: Lived) -> None:
    records = lines_of(export_of(lived))
    records[-2]["devices"][0]["to_seq"] -= 1  # type: ignore[index]
    lines = failures(verify(file_of(records)))
    assert any("manifest: the signature does not verify over the manifest" in line for line in lines), lines
    assert any("the manifest says to_seq" in line for line in lines)


def test_who_exported_is_signed(lived: Lived) -> None:
    records = lines_of(export_of(lived))
    records[0]["exported_by"] = {"principal": "tok_someone_else", "scope": "analyst"}
    lines = failures(verify(file_of(records)))
    assert any("manifest: the manifest's exported_by is not the header's" in line for line in lines), lines
    assert any(DIGEST_CHANGED in line for line in lines)


@pytest.mark.parametrize("cut", ["mid-line", "at a line end"])
def test_a_truncated_file(lived: Lived, cut: str) -> None:
    data = export_of(lived)
    half = data[: len(data) // 2]
    if cut == "at a line end":
        half = half[: half.rindex(b"\n") + 1]
    report = verify(half)
    lines = failures(report)
    assert report.exit_status == EXIT_NOT_AUTHENTIC
    assert any("without its manifest: it is truncated" in line for line in lines), lines
    assert (cut == "mid-line") == any("cut off (no newline at the end)" in line for line in lines)


def test_a_file_from_another_device_spliced_in(lived: Lived, other: Lived) -> None:
    records = lines_of(export_of(lived))
    theirs = [r for r in lines_of(export_of(other)) if r["record"] == "event"][3:6]
    at = _events(records)[8]
    records[at:at] = theirs
    lines = failures(verify(file_of(records)))
    assert any(
        f"an event of device {other.device_id} (seq {theirs[0]['seq']}) inside the section of device "
        f"{lived.device_id}" in line
        for line in lines
    ), lines
    # The same events relabelled as this device's: its chain and signatures do not take them.
    records = lines_of(export_of(lived))
    for event in theirs:
        event["device_id"] = lived.device_id
    index = _events(records)[2]
    records[index] = theirs[0] | {"seq": records[index]["seq"]}
    lines = failures(verify(file_of(records)))
    assert any("signatures:" in line and f"seq {records[index]['seq']}" in line for line in lines), lines


def test_the_export_key_can_be_pinned(lived: Lived) -> None:
    data = export_of(lived)
    pinned = verify(data, export_key=EXPORT_KEY.key_id)
    assert pinned.exit_status == EXIT_PASS
    assert not [line for line in pinned.lines if line.status == "NOTE" and line.check == "manifest"]
    # Someone re-signs a whole file with a key of their own: it verifies only against that key.
    impostor = ExportSigner(signing.new_private_key())
    records = lines_of(data)
    writer_records = file_of(records[:-2])
    manifest = dict(records[-2]) | {"export_key": impostor.public_json()}
    manifest_line = file_of([manifest])
    from gateway.export.format import manifest_preimage

    signature = {
        "record": "signature",
        "algorithm": "ES256",
        "key_id": impostor.key_id,
        "signature": base64.b64encode(impostor.sign(manifest_preimage(manifest_line))).decode(),
    }
    forged = writer_records + manifest_line + file_of([signature])
    assert verify(forged).exit_status == EXIT_PASS
    lines = failures(verify(forged, export_key=EXPORT_KEY.public_key))
    assert lines == [
        f"FAIL  export  manifest: signed by export key {impostor.key_id}, not by the key you trust "
        "(--export-key)"
    ]


def test_every_signature_finds_a_bad_stored_signature_the_chain_covers(lived: Lived) -> None:
    envelopes = [pb.Envelope.FromString(e.SerializeToString()) for e in lived.envelopes]
    bad = envelopes[5]
    bad.signature = bytes(64)  # as if stored garbled: not part of any hash, so the chain still holds
    data = _reexported(lived, envelopes)
    assert verify(data).exit_status == EXIT_PASS  # the later signatures prove seq 6's content and place
    lines = failures(verify(data, every_signature=True))
    assert lines == [
        f"FAIL  {lived.device_id}  signatures: seq {bad.seq}: its own signature does not verify under "
        f"key {bad.key_id}"
    ]

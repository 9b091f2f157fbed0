"""Events the gateway stored without a signature (a later one of their chain covers them): a slice that ends
on one carries its proof after it; what no signature in the file covers is named, and why."""

from __future__ import annotations

import pytest

from gateway.export.proof import Proof
from gateway.export.report import EXIT_NOT_AUTHENTIC, EXIT_PASS, Report
from gateway.wire import pb, signing
from tests.export.builders import (
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

BUYER_DOMAIN = b"@example.kz"


@pytest.fixture(scope="module")
def lived() -> Lived:
    """Uploads of 8 envelopes (the gateway keeps the newest one's signature), half the receipts sealed."""
    return live("KKM-PROOF", 17, Life(shifts=2, receipts_per_shift=(12, 12), buyer_share=0.5, return_share=0))


def _cut(lived: Lived) -> tuple[int, int]:
    """Index of an unsigned envelope, two after a signed one past the first two, whose covering signature
    lies a few envelopes on, past a sealed receipt; and the index of that signed one."""
    signed = next(i for i, e in enumerate(lived.envelopes) if i >= 2 and e.signature)
    for end, envelope in enumerate(lived.envelopes[:-1]):
        if end <= signed + 1 or lived.envelopes[end - 1].signature:
            continue
        cover = next(i for i in range(end, len(lived.envelopes)) if lived.envelopes[i].signature)
        between = lived.envelopes[end + 1 : cover + 1]
        if not envelope.signature and len(between) >= 2 and any(_names_buyer(e) for e in between):
            return end, cover
    raise AssertionError("no such cut in this history")


def _names_buyer(envelope: pb.Envelope) -> bool:
    event = pb.Event.FromString(envelope.event)
    return event.WhichOneof("body") == "receipt" and event.receipt.HasField("buyer")


@pytest.mark.parametrize("every", [False, True], ids=["default", "every signature"])
def test_a_slice_ending_on_an_unsigned_event_carries_the_next_signed_one_as_proof(
    lived: Lived, every: bool
) -> None:
    end, cover = _cut(lived)
    chosen = lived.envelopes[2 : end + 1]
    data = export_bytes([(record_of(lived, chosen), lived.envelopes)])
    records = lines_of(data)
    events = [r for r in records if r["record"] == "event"]
    proofs = [r for r in records if r["record"] == "proof"]
    assert [e["seq"] for e in events] == [e.seq for e in chosen]
    # After the range, outside it: the chain up to its covering signature, as digests only.
    assert [p["seq"] for p in proofs] == [e.seq for e in lived.envelopes[end + 1 : cover + 1]]
    assert records.index(proofs[0]) == records.index(events[-1]) + 1
    assert all(
        set(p) == {"record", "device_id", "seq", "prev_hash", "key_id", "signature", "event_sha256"}
        for p in proofs
    )
    assert [bool(p["signature"]) for p in proofs] == [False] * (len(proofs) - 1) + [True]
    assert BUYER_DOMAIN not in data
    manifest = records[-2]
    assert manifest["events"] == len(chosen) and manifest["proof_events"] == len(proofs)
    assert manifest["devices"][0]["proof_events"] == len(proofs)
    assert manifest["devices"][0]["to_seq"] == chosen[-1].seq

    report = verify(data, every_signature=every)
    assert report.exit_status == EXIT_PASS, failures(report)
    assert (report.events, report.proof_events) == (len(chosen), len(proofs))
    [signatures] = [line.detail for line in report.lines if line.check == "signatures"]
    assert signatures.startswith(f"{len(chosen)} events proven")
    first, last = proofs[0]["seq"], proofs[-1]["seq"]
    assert f"{len(proofs)} proof record(s) after the range (seq {first}..{last}" in signatures
    assert f"{len(chosen)} events (and {len(proofs)} proof records)" in report.verdict()


def test_without_its_proof_the_end_of_a_slice_is_unproven(lived: Lived) -> None:
    end, _ = _cut(lived)
    chosen = lived.envelopes[2 : end + 1]
    # An exporter that stops at the range: the gateway's head is further on, so a signature should follow.
    report = verify(export_bytes([(record_of(lived, chosen), chosen)]))
    assert report.exit_status == EXIT_NOT_AUTHENTIC
    signed = max(i for i, e in enumerate(chosen) if e.signature)
    assert failures(report) == [
        f"FAIL  {lived.device_id}  signatures: seq {chosen[signed + 1].seq}..{chosen[-1].seq}: unproven: "
        "none carries a signature of its own, and the file holds no later signature that covers them (an "
        "export follows its range with the events up to the next signed one, as proof records)"
    ]


def test_a_proof_whose_signature_fails_proves_nothing(lived: Lived) -> None:
    end, cover = _cut(lived)
    envelopes = [pb.Envelope.FromString(e.SerializeToString()) for e in lived.envelopes]
    envelopes[cover].signature = bytes(64)
    chosen = envelopes[2 : end + 1]
    signed = max(i for i, e in enumerate(chosen) if e.signature)
    lines = failures(verify(export_bytes([(record_of(lived, chosen), envelopes)])))
    assert lines == [
        f"FAIL  {lived.device_id}  signatures: seq {chosen[signed + 1].seq}..{chosen[-1].seq}: not signed by "
        f"key {chosen[-1].key_id} (the device's key there): no signature that covers them verifies, and no "
        "later one does (altered after signing, or forged)"
    ]


def test_a_proof_record_out_of_place_is_refused(lived: Lived) -> None:
    end, _ = _cut(lived)
    chosen = lived.envelopes[2 : end + 1]
    records = lines_of(export_bytes([(record_of(lived, chosen), lived.envelopes)]))
    at = next(i for i, r in enumerate(records) if r["record"] == "proof")
    records.insert(at - 2, records.pop(at))  # among the events
    lines = failures(verify(file_of(records)))
    assert any("after the proof records of its section" in line for line in lines), lines


def test_the_newest_events_without_a_signature_yet_are_said_to_be_so(lived: Lived) -> None:
    # The newest of their upload was refused (say, a rotation to no valid key): the events before it were
    # accepted, and storage holds no signature that covers them until the register's next upload.
    envelopes = [pb.Envelope.FromString(e.SerializeToString()) for e in lived.envelopes[:-1]]
    unsigned = [e.seq for e in envelopes[max(i for i, e in enumerate(envelopes) if e.signature) + 1 :]]
    assert len(unsigned) > 1
    cut_short = Lived(lived.register, lived.first_key, envelopes)
    for every in (False, True):
        report = verify(export_of(cut_short), every_signature=every)
        assert report.exit_status == EXIT_PASS, failures(report)
        notes = [line.detail for line in report.lines if line.status == "NOTE" and line.check == "signatures"]
        assert notes == [
            f"seq {unsigned[0]}..{unsigned[-1]}: no signature yet: the newest events the gateway held for "
            f"the device (to seq {unsigned[-1]}) when it exported them; the signature that will cover them "
            "had not reached its storage. Attested by the gateway only (it verified that signature when it "
            "received them)"
        ]
        [signatures] = [
            line.detail for line in report.lines if line.status == "PASS" and line.check == "signatures"
        ]
        assert signatures.startswith(f"{len(envelopes) - len(unsigned)} events proven")
        assert f"{len(unsigned)} attested by the gateway only (NOTE)" in signatures
    # A slice before them: its proof runs to the newest event, and says the same.
    chosen = envelopes[: -len(unsigned) + 1]
    data = export_bytes([(record_of(cut_short, chosen), envelopes)])
    assert [r["seq"] for r in lines_of(data) if r["record"] == "proof"] == unsigned[1:]
    report = verify(data)
    assert report.exit_status == EXIT_PASS, failures(report)
    assert any("no signature yet" in line.detail for line in report.lines if line.status == "NOTE")


@pytest.mark.parametrize("every_signature", [False, True])
def test_erased_receipts_with_their_digest_are_proven_like_any_event(every_signature: bool) -> None:
    lived = live("KKM-ERASE", 5, Life(shifts=1, receipts_per_shift=(12, 12), buyer_share=0.5))
    data = export_bytes([(record_of(lived), lived.envelopes)], erased=True)
    erased = [r for r in lines_of(data) if r.get("protection") == "erased"]
    assert erased and all("event_sha256" in r for r in erased)
    assert not any("envelope_hash" in r or "redacted_event" in r or "event" in r for r in erased)
    report = verify(data, every_signature=every_signature)
    assert report.exit_status == EXIT_PASS, failures(report)
    said = [(line.status, line.detail) for line in report.lines if line.check == "signatures"]
    assert not [detail for status, detail in said if status == "NOTE"], said
    [signatures] = [detail for status, detail in said if status == "PASS"]
    assert signatures.startswith(f"{len(lived.envelopes)} events proven"), signatures


def test_events_linked_to_their_signature_only_through_an_erased_one_without_digest_are_attested() -> None:
    """Rows the gateway stored before it kept erased events' digests (docs/export.md)."""
    lived = live("KKM-ERASE", 5, Life(shifts=1, receipts_per_shift=(12, 12), buyer_share=0.5))
    report = verify(export_bytes([(record_of(lived), lived.envelopes)], erased=True, digests=False))
    assert report.exit_status == EXIT_PASS, failures(report)
    notes = [line for line in report.lines if line.status == "NOTE" and line.check == "signatures"]
    cut = [line for line in notes if "withheld without its digest" in line.detail]
    assert cut, notes
    # Each such note names the erased receipt their chain passes through.
    erased = {e.seq for e in lived.envelopes if _names_buyer(e)}
    for line in cut:
        assert int(line.detail.split("passes through seq ")[1].split(",")[0]) in erased


def test_a_checkpoint_waits_for_the_next_signed_event() -> None:
    key = signing.new_private_key()
    report = Report()
    proof = Proof(report, "KKM-CP", every=False, checkpoint=2)
    proof.use_key(key.public_key(), signing.key_id_of(key.public_key()))
    for seq in range(1, 6):
        preimage = seq.to_bytes(8, "big")
        proof.add(seq, preimage, signing.sign(key, preimage) if seq == 5 else b"")
    proof.add(6, b"6", b"")
    proof.end(why="the section ends")
    assert (proof.proven, proof.verified) == (5, 1)
    assert [line.text() for line in report.lines] == [
        "FAIL  KKM-CP  signatures: seq 6: unproven: no signature of its own, and the section ends"
    ]

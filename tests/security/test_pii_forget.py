"""pii forget beyond storage: what the journal has not shipped is counted, what is set aside is erased."""

from __future__ import annotations

from pathlib import Path

from gateway.ingest.journal import FRAME_HEADER, Journal
from gateway.security.buyer_data import ERASED, SEALED, protect_record
from gateway.security.pii_erasure import count_in_journal, forget_set_aside, lookup_hashes
from gateway.shipping.quarantine import Quarantine, quarantined
from gateway.wire import pb
from tests.ingest.conftest import PII_KEYS, Register
from tests.security.test_buyer_data import EMAIL, PHONE, _with_buyer

OTHER_PHONE = "+77010001122"


def _records(register: Register) -> list[bytes]:
    """Journal records as ingest writes them: the person's receipts sealed, another's, a plain one."""
    other = _with_buyer()
    other.receipt.buyer.CopyFrom(pb.BuyerContacts(phone=OTHER_PHONE, consent_purpose="e-receipt",
                                                  consent_expires_ms=other.time_ms + 86_400_000))
    out = []
    for event in (_with_buyer(), other, _with_buyer(), pb.Event(shift_open=pb.ShiftOpen(shift_number=2))):
        envelope = register.envelope(event)
        record = pb.JournalRecord(envelope=envelope, accepted=True, envelope_hash=register.head,
                                  seller_tin="990340000123")
        protect_record(PII_KEYS, record, event)
        out.append(record.SerializeToString())
    return out


async def test_receipts_not_shipped_yet_are_counted_by_any_contact(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "journal", segment_bytes=1 << 20, budget_bytes=1 << 26)
    try:
        await journal.append(_records(Register("KKM-F")))
        end = journal.end_position
        spellings = ({"phone": "8 701 999 88 77"}, {"email": EMAIL.upper()}, {"phone": PHONE, "iin": "7"})
        for contacts in spellings:
            assert count_in_journal(journal, 0, end, lookup_hashes(PII_KEYS, contacts)) == 2
        assert count_in_journal(journal, 0, end, lookup_hashes(PII_KEYS, {"phone": OTHER_PHONE})) == 1
        assert count_in_journal(journal, 0, end, lookup_hashes(PII_KEYS, {"phone": "+77000000000"})) == 0
    finally:
        await journal.close()


def test_set_aside_records_are_rewritten_without_the_person(tmp_path: Path) -> None:
    quarantine = Quarantine(tmp_path / "quarantine")
    records = _records(Register("KKM-Q"))
    position, entries = 0, []
    for raw in records:
        end = position + FRAME_HEADER.size + len(raw)
        entries.append(quarantined(raw, position, end, "journal-1", "ValueError", "rows not built"))
        position = end
    quarantine.add(entries)
    hashes = lookup_hashes(PII_KEYS, {"phone": PHONE})
    assert forget_set_aside(quarantine, hashes) == 2
    kept = [pb.JournalRecord.FromString(entry.record) for entry in Quarantine(quarantine.directory).entries()]
    assert [r.sealed.protection for r in kept] == [ERASED, SEALED, ERASED, ""]
    assert not any(r.sealed.HasField("buyer") or r.sealed.event for r in (kept[0], kept[2]))
    # What is left is what any erased event keeps: the digest of its signed bytes (no contact in it).
    before = [pb.JournalRecord.FromString(raw) for raw in records]
    assert [r.sealed.event_sha256 for r in kept[:3]] == [r.sealed.event_sha256 for r in before[:3]]
    assert all(len(r.sealed.event_sha256) == 32 for r in kept[:3])
    assert forget_set_aside(quarantine, hashes) == 0  # nothing of the person is left there

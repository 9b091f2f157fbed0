"""One device's section of an export, checked event by event in one pass with bounded memory.

seq (gaps only where a signed gap notice declares them), chain (prev_hash links from the genesis value),
signatures (proof.py), keys (the key in force at each seq: registration, signed rotations, an operator's
new key after a revocation), revocation (nothing signed with a revoked key from its revocation point on),
and the content checks (arithmetic, Z reports: shifts.py) of every event whose content the file holds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf.message import DecodeError

from gateway.export.format import ATTESTED_BY_GATEWAY, REGISTERED_AFTER_REVOCATION, ROTATION
from gateway.export.proof import Proof
from gateway.export.records import DeviceEntry, DeviceTotals, EventEntry, GapEntry, KeyEntry, ProofEntry
from gateway.export.report import Report
from gateway.export.shifts import ShiftLedger
from gateway.ingest.chain import next_seq_after
from gateway.ingest.receipt_validation import arithmetic_findings
from gateway.wire import pb, signing
from gateway.wire.rotation import new_key_of

SEQ, CHAIN, SIGNATURES, KEYS, REVOCATION = "seq", "chain", "signatures", "keys", "revocation"
ARITHMETIC, Z_REPORTS = "arithmetic", "z-reports"


def _seqs(first: int, last: int) -> str:
    return f"seq {first}" if first == last else f"seq {first}..{last}"


class _Ranges:
    """Failures of consecutive seqs with the same text, reported as one line per range."""

    def __init__(self, report: Report, scope: str, check: str) -> None:
        self._report, self._scope, self._check = report, scope, check
        self._run: list[int] = []
        self._detail = ""

    def add(self, seq: int, detail: str, previous: int | None) -> None:
        """A failure at seq; previous: the seq of the event before it in the chain (across declared gaps)."""
        if self._run and detail == self._detail and previous == self._run[1]:
            self._run[1] = seq
            return
        self.flush()
        self._run, self._detail = [seq, seq], detail

    def flush(self) -> None:
        if self._run:
            first, last = self._run
            self._report.fail(self._scope, self._check, f"{_seqs(first, last)}: {self._detail}", first)
        self._run = []


@dataclass
class _Key:
    """The key in force, and why its authority is not established ("" when it is)."""

    entry: KeyEntry | None
    key: ec.EllipticCurvePublicKey | None
    distrust: str = ""

    @property
    def key_id(self) -> str:
        return self.entry.key_id if self.entry else "none"


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _load(entry: KeyEntry) -> tuple[ec.EllipticCurvePublicKey | None, str]:
    """The key of an entry, or None and why not."""
    if entry.public_key is None:
        return (
            None,
            f"the public key of key {entry.key_id} is not in the export (the gateway no longer holds it)",
        )
    try:
        key = signing.load_public_key_point(entry.public_key)
    except ValueError:
        return None, f"key {entry.key_id} is not a P-256 public key"
    if signing.key_id_of(key) != entry.key_id:
        return None, f"key {entry.key_id}: its public key has the id {signing.key_id_of(key)}"
    return key, ""


class DeviceCheck:
    """Feed it the section's events in file order, then close()."""

    def __init__(self, device: DeviceEntry, report: Report, *, every_signature: bool) -> None:
        self.device = device
        self._report = report
        self._scope = scope = device.device_id
        self._keys = sorted(device.keys, key=lambda k: k.from_seq)
        self._revocations = {r.from_seq: r for r in device.revocations}
        self._proof = Proof(report, scope, every=every_signature)
        self._ledger = ShiftLedger(from_genesis=False)
        self._key = _Key(None, None)
        self._key_ids = _Ranges(report, scope, KEYS)
        self._untrusted = _Ranges(report, scope, KEYS)
        self._revoked = _Ranges(report, scope, REVOCATION)
        self._revoked_text = ""  # why the key in force may sign nothing, "" when it may
        self._expected_seq = 0
        self._expected_prev = b""
        self._first: EventEntry | None = None
        self._last: EventEntry | None = None
        self._last_hash: bytes | None = None
        self._gaps: list[GapEntry] = []
        self._rotations: set[tuple[int, str]] = set()  # (first seq under the new key, its id) seen
        self._through = 0  # the last seq read, event or proof record
        self._proof_seqs = (0, 0)  # the first and last seq of the proof records
        self.proofs = 0
        self.proof_signed = False  # the last proof record read carries a signature (it ends the proof)
        self.events = self.withheld = self.unverifiable = self.receipts = self.attested_receipts = 0
        self.z_checked = self.z_unchecked = 0
        self._z_why_unchecked = ""

    # ── the stream ──

    def add(self, entry: EventEntry) -> None:
        """One event record of this device's section."""
        self.events += 1
        if self._first is None:
            self._start(entry)
        elif not self._in_order(entry):
            return
        digest = hashlib.sha256(entry.event).digest() if entry.event is not None else entry.event_sha256
        self._last_hash = self._link(
            entry.seq, entry.prev_hash, entry.key_id, entry.signature, digest, entry.envelope_hash
        )
        self.withheld += entry.event is None
        self._last, self._expected_seq = entry, entry.seq + 1
        self._content(entry)

    def add_proof(self, entry: ProofEntry) -> None:
        """A proof record after the section's events: a link of the chain, there for its signature only
        (outside the range: no seq, revocation or content check of its own)."""
        self.proofs += 1
        self.proof_signed = bool(entry.signature)
        if self._first is None or entry.seq <= self._through:
            self._report.fail(
                self._scope,
                SEQ,
                f"seq {entry.seq}: a proof record must come after the section's events, in increasing seq "
                f"(the last seq before it is {self._through or 'none'})",
                entry.seq,
            )
            return
        self._proof_seqs = (self._proof_seqs[0] or entry.seq, entry.seq)
        self._link(
            entry.seq,
            entry.prev_hash,
            entry.key_id,
            entry.signature,
            entry.event_sha256,
            entry.envelope_hash,
            counted=False,
        )

    def _link(
        self,
        seq: int,
        prev_hash: bytes,
        key_id: str,
        signature: bytes,
        digest: bytes | None,
        stored_hash: bytes | None,
        *,
        counted: bool = True,
    ) -> bytes:
        """One link of the chain (counted: an event of the range, else a proof record): prev_hash, the key
        in force, revocation, and the signature proof; its chain hash."""
        if prev_hash != self._expected_prev:
            what = "the genesis value" if seq == 1 else f"the hash of seq {self._through}"
            proof = "" if counted else " (a proof record)"
            self._report.fail(
                self._scope,
                CHAIN,
                f"seq {seq}{proof}: prev_hash is not {what} (one of them was altered, or an event "
                "between them removed or inserted)",
                seq,
            )
            self._proof.end(why=f"the chain breaks at seq {seq}, before a signature covers them")
        self._keys_at(seq)
        previous = self._through or None
        if key_id != self._key.key_id:
            named = f"the envelope names key {key_id}, the key in force is {self._key.key_id}"
            self._key_ids.add(seq, named, previous)
        if self._key.distrust and counted:
            self._untrusted.add(seq, self._key.distrust, previous)
        if self._revoked_text and counted:
            self._revoked.add(seq, self._revoked_text, previous)
        self._through = seq
        if digest is None:  # withheld, stored before the gateway kept its digest: only its hash is known
            self.unverifiable += counted
            self._proof.end(
                attested=(
                    "no signature of their own, and the chain to the one that covers them passes through "
                    f"seq {seq}, withheld without its digest (buyer data erased, or no longer openable, "
                    "in a row stored before the gateway kept digests): the file cannot link them to it; "
                    "attested by the gateway only (it verified that signature when it received them)"
                )
            )
            chain_hash = stored_hash or b""
        else:
            preimage = signing.digest_preimage(self._scope, seq, prev_hash, digest)
            chain_hash = hashlib.sha256(preimage).digest()
            if self._revoked_text:
                self._proof.skip(seq, signature)
            else:
                self._proof.add(seq, preimage, signature, counted=counted)
        self._expected_prev = chain_hash
        return chain_hash

    def _start(self, entry: EventEntry) -> None:
        self._first = entry
        self._ledger = ShiftLedger(from_genesis=entry.seq == 1)
        self._expected_seq = entry.seq
        # From seq 1 the chain starts at the genesis value; a later start takes its prev_hash as given,
        # and the manifest (signed by the gateway) attests it.
        self._expected_prev = signing.genesis_hash(self._scope) if entry.seq == 1 else entry.prev_hash
        in_force = [k for k in self._keys if k.from_seq <= entry.seq] or self._keys[:1]
        if not in_force:
            self._report.fail(self._scope, KEYS, "the device record lists no key")
            return
        self._use(in_force[-1])
        if entry.seq > 1 and in_force[-1].source == ROTATION:
            self._report.note(
                self._scope,
                KEYS,
                f"key {in_force[-1].key_id}, in force at seq {entry.seq}, comes from the "
                f"rotation at seq {in_force[-1].from_seq - 1}, before this export: attested by the manifest",
            )
        for revocation in self._revocations.values():
            reregistered = any(
                k.source == REGISTERED_AFTER_REVOCATION and revocation.from_seq < k.from_seq <= entry.seq
                for k in self._keys
            )
            if revocation.from_seq < entry.seq and not reregistered:
                self._revoked_text = self._revocation_text(revocation.from_seq)

    def _in_order(self, entry: EventEntry) -> bool:
        """Whether entry goes on (the next seq, or after seqs reported missing); else it is reported."""
        seq, last = entry.seq, self._last
        assert last is not None
        if seq == self._expected_seq:
            return True
        if seq > self._expected_seq:
            missing = _seqs(self._expected_seq, seq - 1)
            self._report.fail(self._scope, SEQ, f"{missing} missing: no signed gap notice declares it", seq)
            self._proof.end(why=f"{missing} is missing before a signature covers them")
            self._expected_prev = entry.prev_hash  # the missing seq is the fault: not reported as a link too
            self._ledger.unknown(f"{missing} is missing")
            return True
        lost = next((g for g in self._gaps if g.first_missing_seq <= seq <= g.last_missing_seq), None)
        if seq == last.seq:
            detail = "appears twice" if entry == last else "appears twice, with other content (a fork)"
        elif lost is not None:
            detail = f"was declared lost by the gap notice at seq {lost.seq}, yet it is here"
        else:
            detail = f"comes after seq {last.seq}: out of order"
        self._report.fail(self._scope, SEQ, f"seq {seq} {detail}", seq)
        return False

    def _keys_at(self, seq: int) -> None:
        """A revocation or an operator's new key taking effect at seq."""
        if seq in self._revocations:
            self._revoked_text = self._revocation_text(seq)
            self._proof.revoke(seq, self._revoked_text)  # what is signed from here on proves nothing
        registered = next(
            (k for k in self._keys if k.from_seq == seq and k.source == REGISTERED_AFTER_REVOCATION), None
        )
        if registered is not None and self._key.entry is not registered:
            self._use(registered, why=f"the key changes at seq {seq}, before a signature covers them")
            self._revoked_text = ""
            self._report.note(
                self._scope,
                KEYS,
                f"from seq {seq}: key {registered.key_id}, registered by the operator on "
                f"{_when(registered.at_ms)} after a revocation (attested by the gateway, not by a signed "
                "rotation)",
                seq,
            )

    def _revocation_text(self, from_seq: int) -> str:
        revocation = self._revocations[from_seq]
        how = "as compromised" if revocation.compromised else f"on {_when(revocation.at_ms)}"
        return f"signed with a key revoked {how} from seq {from_seq} on"

    def _use(self, entry: KeyEntry, distrust: str = "", why: str = "") -> None:
        key, problem = _load(entry)
        if problem:
            self._report.fail(self._scope, KEYS, problem)
        self._key = _Key(entry, key, distrust)
        self._proof.use_key(key, entry.key_id, why)

    # ── content ──

    def _content(self, entry: EventEntry) -> None:
        raw = entry.event if entry.event is not None else entry.redacted_event
        seq = entry.seq
        if raw is None:
            self._ledger.unknown(f"the content of seq {seq} is withheld ({entry.protection})")
            return
        try:
            event = pb.Event.FromString(raw)
        except DecodeError:
            self._report.fail(
                self._scope, ARITHMETIC, f"seq {seq}: the event bytes are not a tracegate.v1.Event", seq
            )
            self._ledger.unknown(f"seq {seq} does not decode")
            return
        for finding in arithmetic_findings(event):
            where = f" (line {finding.line})" if finding.line else ""
            self._report.fail(
                self._scope, ARITHMETIC, f"seq {seq}{where}: {finding.kind}: {finding.detail}", seq
            )
        kind = event.WhichOneof("body")
        if kind == "receipt":
            self.receipts += 1
            self.attested_receipts += entry.event is None
            problem = self._ledger.receipt(event.receipt, gateway_attested=entry.event is None)
            if problem:
                self._report.fail(self._scope, Z_REPORTS, f"seq {seq}: {problem}", seq)
        elif kind == "shift_open":
            self._ledger.open(event.shift_open.shift_number)
        elif kind == "shift_close":
            self._z_report(seq, event.shift_close)
        elif kind == "cash_movement":
            self._ledger.movement(event.cash_movement)
        elif kind == "gap_notice":
            self._gap_notice(seq, event.gap_notice)
        elif kind == "key_rotation":
            self._rotation(seq, event.key_rotation)

    def _z_report(self, seq: int, close: pb.ShiftClose) -> None:
        result = self._ledger.close(seq, close)
        for problem in result.problems:
            self._report.fail(
                self._scope, Z_REPORTS, f"seq {seq}: Z report of shift {result.shift_number}: {problem}", seq
            )
        if result.not_checked:
            self.z_unchecked += 1
            self._z_why_unchecked = (
                self._z_why_unchecked or f"shift {result.shift_number}: {result.not_checked}"
            )
        else:
            self.z_checked += 1

    def _gap_notice(self, seq: int, gap: pb.GapNotice) -> None:
        next_seq, findings = next_seq_after(seq, gap)
        self._gaps.append(GapEntry(seq, gap.first_missing_seq, gap.last_missing_seq))
        if any(f.kind == "bad_gap_notice" for f in findings):
            self._report.note(self._scope, SEQ, f"seq {seq}: {findings[0].detail}", seq)
            return
        self._expected_seq = next_seq
        self._ledger.unknown(f"seq {gap.first_missing_seq}..{gap.last_missing_seq} were declared lost")

    def _rotation(self, seq: int, rotation: pb.KeyRotation) -> None:
        """A rotation: authentic only if its own signature verifies under the key it replaces."""
        self._proof.end(why=f"the key rotation at seq {seq}, which ends their key's stretch, is not signed")
        authentic = self._proof.proven_through >= seq and not self._key.distrust and not self._revoked_text
        new = new_key_of(rotation)
        if new is None:
            self._report.fail(self._scope, KEYS, f"seq {seq}: the key rotation names no valid P-256 key", seq)
            return
        self._rotations.add((seq + 1, new[1]))
        if not authentic and not self._revoked_text:
            self._report.fail(
                self._scope,
                KEYS,
                f"seq {seq}: the key rotation is not signed by the key it replaces ({self._key.key_id})",
                seq,
            )
        listed = next((k for k in self._keys if k.from_seq == seq + 1 and k.key_id == new[1]), None)
        if listed is None:
            self._report.fail(
                self._scope,
                KEYS,
                f"seq {seq}: the key history does not list key {new[1]}, which this "
                "rotation hands the chain to",
                seq,
            )
        entry = listed or KeyEntry(new[1], signing.public_key_bytes(new[0]), seq + 1, ROTATION, 0)
        distrust = (
            ""
            if authentic or self._revoked_text
            else (f"signed with key {new[1]}, which no authentic rotation handed the chain to")
        )
        self._use(entry, distrust)

    # ── the end ──

    def close(self) -> None:
        """End of the section: settle pending proofs, compare with the device record, say what passed."""
        head = self.device.head_seq
        if head is not None and self._through == head:
            self._proof.end(
                attested=(
                    f"no signature yet: the newest events the gateway held for the device (to seq {head}) "
                    "when it exported them; the signature that will cover them had not reached its storage. "
                    "Attested by the gateway only (it verified that signature when it received them)"
                )
            )
        else:
            self._proof.end(
                why="the file holds no later signature that covers them (an export follows its range with "
                "the events up to the next signed one, as proof records)"
            )
        if self._first is not None and (head is None or self._through > head):
            self._report.fail(
                self._scope,
                SEQ,
                f"the device record says the newest seq the gateway held is {head}, the file holds seq "
                f"{self._through}",
            )
        for ranges in (self._key_ids, self._untrusted, self._revoked):
            ranges.flush()
        first = self._first.seq if self._first else None
        last = self._last.seq if self._last else None
        if (self.device.from_seq, self.device.to_seq) != (first, last):
            self._report.fail(
                self._scope,
                SEQ,
                f"the device record says seq {self.device.from_seq}..{self.device.to_seq}, "
                f"the file holds {first}..{last}",
            )
        if set(self._gaps) != set(self.device.gaps):
            listed, held = sorted(g.seq for g in self.device.gaps), sorted(g.seq for g in self._gaps)
            self._report.fail(
                self._scope,
                SEQ,
                f"the device record lists gap notices at seq {listed}, the chain holds them at seq {held}",
            )
        if first is not None and last is not None:
            for key in self._keys:
                in_range = first <= key.from_seq - 1 <= last
                if key.source == ROTATION and in_range and (key.from_seq, key.key_id) not in self._rotations:
                    self._report.fail(
                        self._scope,
                        KEYS,
                        f"the key history lists a rotation to key {key.key_id} at seq "
                        f"{key.from_seq - 1}; the chain holds none there",
                        key.from_seq - 1,
                    )
        self._conclude(first, last)

    def _conclude(self, first: int | None, last: int | None) -> None:
        report, scope = self._report, self._scope
        span = _seqs(first, last) if first is not None and last is not None else "no events"
        gaps = f", {len(self._gaps)} signed gap notice(s)" if self._gaps else ""
        report.conclude(scope, SEQ, f"{span}: {self.events} events in order, every gap declared{gaps}")
        start = (
            "from the genesis value"
            if first == 1
            else f"from seq {first}, whose prev_hash the manifest attests"
        )
        report.conclude(scope, CHAIN, f"every prev_hash links, {start}")
        proof = self._proof
        how = (
            f"each of the {proof.verified} signature(s) in the file verified on its own, each event without "
            "one covered by the next of its chain"
            if proof.every
            else f"{proof.verified} verified signature(s) cover them through the chain"
        )
        if self.proofs:
            first_proof, last_proof = self._proof_seqs
            how += (
                f"; {self.proofs} proof record(s) after the range ({_seqs(first_proof, last_proof)}: digests "
                "only, outside the export's content)"
            )
        if proof.attested:
            how += f"; {proof.attested} attested by the gateway only (NOTE)"
        report.conclude(scope, SIGNATURES, f"{proof.proven} events proven: {how}")
        report.conclude(
            scope,
            KEYS,
            f"{len(self._keys)} key(s); {len(self._rotations)} rotation(s) in this "
            "export, each signed by the key it replaces",
        )
        revoked = f"{len(self._revocations)} revocation(s): nothing signed with a revoked key after its point"
        report.conclude(scope, REVOCATION, revoked if self._revocations else "never revoked")
        attested = (
            f" ({self.attested_receipts} from the gateway's redacted copies)"
            if self.attested_receipts
            else ""
        )
        report.conclude(
            scope,
            ARITHMETIC,
            f"{self.receipts} receipt(s){attested}, every Z report and cash movement add up",
        )
        unchecked = (
            f"; {self.z_unchecked} not checkable ({self._z_why_unchecked} …)" if self.z_unchecked else ""
        )
        report.conclude(scope, Z_REPORTS, f"{self.z_checked} Z report(s) agree with their shifts{unchecked}")
        if self.device.attested_by == ATTESTED_BY_GATEWAY:
            report.note(
                scope,
                SIGNATURES,
                f"{self.events} events are attested by the gateway, not by the device "
                f"({self.device.protocol}: the register authenticates by token; the gateway signs for it)",
            )
        if self.unverifiable:
            report.note(
                scope,
                SIGNATURES,
                f"{self.unverifiable} event(s) withheld without their digest (buyer data erased, stored "
                "before the gateway kept digests): their own signatures cannot be checked; later signatures "
                "prove their hash",
            )

    def totals(self) -> DeviceTotals:
        """What this section holds, to compare with the manifest."""
        return DeviceTotals(
            self._scope,
            self.events,
            self._first.seq if self._first else None,
            self._last.seq if self._last else None,
            self._first.prev_hash if self._first else None,
            self._last_hash,
            self.withheld,
            self.proofs,
        )

"""The ingest pipeline: decode → authenticate → chain → validate → journal → ack, for one batch at a time."""

from __future__ import annotations

import functools
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from gateway import errors
from gateway.codes.parser import CodeResult
from gateway.codes.status_index import Slot
from gateway.devices import Device, DeviceRegistry
from gateway.errors import EnvelopeRejected
from gateway.ingest import decoding
from gateway.ingest.chain import ChainCursor, ChainState, HeadMove, KnownEnvelope, Verdict
from gateway.ingest.chain_takeover import (
    LoadHead,
    MoveHeads,
    move_heads_back,
    move_heads_or_refuse,
    refresh_heads,
)
from gateway.ingest.code_verdicts import CodeAt, CodeVerdicts, Undo, codes_of, parse_codes
from gateway.ingest.cpu_thread import VERIFIER
from gateway.ingest.fiscal_sign import FiscalSigner
from gateway.ingest.key_locks import KeyLocks
from gateway.ingest.receipt_validation import event_time_findings
from gateway.ingest.signatures import (
    AWAITS_ROTATION,
    SignedEnvelope,
    authenticate,
    check_device,
    judge_until_rotation,
)
from gateway.ingest.signatures import Verdict as AuthVerdict
from gateway.security.buyer_data import protect_record
from gateway.security.device_keys import apply_key_rotations, rotation_key
from gateway.security.pii_keys import PiiKeyRing
from gateway.settings import Settings
from gateway.wire import pb, signing

# (device_id, seqs) -> {seq: stored envelope} for the seqs storage holds (gateway.storage.chain_heads).
LookupEnvelopes = Callable[[str, list[int]], Awaitable[Mapping[int, KnownEnvelope]]]


class JournalAppender(Protocol):
    """The part of gateway.ingest.journal.Journal the pipeline uses."""

    async def append(self, records: Sequence[bytes]) -> None:
        """Durable when it returns; raises GatewayError(BACKPRESSURE) when it cannot take more."""


def wall_clock_ms() -> int:
    """Now, in ms since the epoch, UTC."""
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class _Item:
    """One envelope on its way through the stages."""

    envelope: pb.Envelope
    device_id: str  # the envelope's, read once (each upb field read makes a new object)
    seq: int
    event: pb.Event | None = None
    signed: SignedEnvelope | None = None
    device: Device | None = None
    awaits_rotation: bool = False  # judged once the chain decided on its device's rotation before it
    rejection: EnvelopeRejected | None = None
    content: tuple[pb.Finding, ...] = ()  # content over the limits (decoding): anomalies once accepted
    findings: list[pb.Finding] = field(default_factory=list)
    status: pb.AckStatus = pb.REJECTED
    fiscal_sign: str = ""
    # Its journal record, filled by _record; the code verdicts go straight into it (no copies).
    record: pb.JournalRecord = field(default_factory=pb.JournalRecord)
    code_undo: Undo = field(default_factory=list)
    codes: dict[str, CodeResult] = field(default_factory=dict)  # validate_code by raw code (pure, early)
    code_places: list[CodeAt] = field(default_factory=list)  # codes_of(event): where each code sits
    attested: pb.JournalRecord | None = None  # set: made and signed by the gateway (see ingest)


# Refusals journalled lately, by (envelope hash, error code): a replay of one is answered, not kept again.
RECENT_REFUSALS = 100_000


def _keep_little(record: pb.JournalRecord) -> None:
    """A refusal nobody proved keeps what identifies it and no more: its fields cut to their limits (an
    oversized id or hash is why some are refused) and no event bytes (nobody is known to have signed them;
    the register has them). So each such record is a few hundred bytes, whatever was sent."""
    envelope = record.envelope
    envelope.ClearField("event")
    envelope.device_id = envelope.device_id[: signing.MAX_DEVICE_ID_BYTES]
    envelope.key_id = envelope.key_id[: decoding.MAX_KEY_ID_CHARS]
    envelope.prev_hash = envelope.prev_hash[: signing.HASH_LEN]
    envelope.signature = envelope.signature[: signing.SIGNATURE_LEN]


# A device's key while a batch is decided: (public key, key id), after the rotations accepted so far.
_Key = tuple[ec.EllipticCurvePublicKey, str]

# "accepted", "duplicate", …: AckStatus.Name(status).lower() once, not per envelope (~1 µs each).
_STATUS_COUNTERS = {number: name.lower() for name, number in pb.AckStatus.items()}


def _signed_by_another_key(items: list[_Item]) -> list[_Item]:
    """The envelopes of registered, active devices refused as unknown_key: maybe resends of a retired key."""
    return [
        item for item in items
        if item.signed is not None and item.rejection and item.rejection.error is errors.UNKNOWN_KEY
    ]


def _accepted_rotations(items: list[_Item], received_ms: int) -> list[pb.JournalRecord]:
    return [
        pb.JournalRecord(envelope=item.envelope, received_ms=received_ms, accepted=True)
        for item in items
        # signed.rotation: the event's KeyRotation, found once while preparing (no WhichOneof per item).
        if item.status == pb.ACCEPTED and item.signed is not None and item.signed.rotation is not None
    ]


class IngestPipeline:
    """Turns an IngestBatch into journal records and an IngestAck; one instance per gateway process."""

    def __init__(
        self,
        settings: Settings,
        registry: DeviceRegistry,
        chains: ChainState,
        fiscal: FiscalSigner,
        journal: JournalAppender,
        lookup_envelopes: LookupEnvelopes,
        clock: Callable[[], int] = wall_clock_ms,
        on_key_rotation: Callable[[list[Device]], Awaitable[None]] | None = None,
        code_verdicts: CodeVerdicts | None = None,
        load_head: LoadHead | None = None,
        move_heads: MoveHeads | None = None,
        pii: PiiKeyRing | None = None,
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._chains = chains
        self._fiscal = fiscal
        self._journal = journal
        self._lookup = lookup_envelopes
        self._clock = clock
        self._on_key_rotation = on_key_rotation  # stores the rotated devices (before the ack)
        self._locks = KeyLocks()  # by device id
        # By cis: the status index is shared by every device, so a code's move is settled (journalled, or
        # reversed) before another request judges that code. Always taken after the device locks and
        # released before them, so the two kinds cannot deadlock.
        self._code_locks = KeyLocks()
        self._codes = code_verdicts  # None: marking codes get no verdicts (tests of the other stages)
        self._counts: Counter[str] = Counter()
        self.unrecorded_refusals = 0  # refusals over their sender's budget: answered, not journalled (ingest)
        self._refused: OrderedDict[tuple[bytes, str], None] = OrderedDict()  # RECENT_REFUSALS, oldest first
        self._load_head = load_head  # None: memory is the whole truth (one node, heads restored at start)
        self._move_heads = move_heads  # None: no other node accepts for these devices (one node)
        self._pii = pii  # buyer data is sealed under it before the journal; None: never kept

    def decode_batch(self, body: bytes) -> pb.IngestBatch:
        """Parse a request body under the limits; raises a request-level GatewayError."""
        return decoding.decode_batch(body, self._settings.limits)

    async def ingest(
        self,
        batch: pb.IngestBatch,
        attested: Sequence[pb.JournalRecord] | None = None,
        record_unproven: Callable[[], bool] | None = None,
    ) -> pb.IngestAck:
        """Decide on every envelope, make the decisions durable in the journal, then answer.

        A refusal before the envelope's signature was verified under its device's key (unknown device or
        key, bad signature, revoked device, malformed envelope) proves nothing about who sent it: anyone can
        name any device. It is answered like any refusal but journalled without a seller, once per device
        and error in a request (its detail counts the rest), cut to a few hundred bytes, and only while
        record_unproven() allows (the sender's budget, see http/ingest_routes.py): a stranger can neither
        blame a seller's register for envelopes it never sent nor fill the journal with refusals. A refusal
        of what the device did sign is journalled once: a copy of it sent again (a replay, a resend while a
        gap stays open) is answered the same and not kept again while it is among the recent ones.

        attested: the batch was made and signed by the gateway itself for a register that signs nothing
        (the OFD front door, gateway/ofd), one record per envelope whose fields go into that envelope's
        journal record if it is accepted (how it was authenticated, its evidence, findings, the register's
        exchange). Its signatures are the gateway's own, so they are not verified again (the device must
        still be registered, active and under that key); its time is judged as any register's.
        """
        received_ms = self._clock()
        items = self._prepare(batch)
        if attested is None:
            awaiting = await self._authenticate(items)
        else:
            awaiting = {}
            self._attest(items, attested)
        resends = _signed_by_another_key(items)
        devices = {item.device_id for item in items if item.device is not None or item.awaits_rotation}
        async with self._locks.hold(devices | {item.device_id for item in resends}):
            await self._answer_retired_key_resends(resends)
            cursors = await self._cursors(items)
            async with self._code_locks.hold(self._codes_judged(items)):
                moved: list[HeadMove] = []  # the moves undoing the heads this batch moved in Keeper
                try:
                    records, refused = self._decide(items, cursors, received_ms, awaiting, record_unproven)
                    if records and self._move_heads is not None:  # a cluster: claim the heads first
                        moves = [move for cursor in cursors.values() if (move := cursor.move()) is not None]
                        backs = [back for cursor in cursors.values() if (back := cursor.move_back())]
                        await move_heads_or_refuse(self._chains, self._move_heads, moves, backs)
                        moved = backs
                    if records:
                        # Raises BACKPRESSURE (or anything else) before any head moves: the client resends.
                        await self._journal.append(records)
                    self._remember_refused(refused)
                except BaseException:
                    self._undo_codes(items)  # nothing was accepted, so no code was sold or returned
                    if moved and self._move_heads is not None:
                        await move_heads_back(self._move_heads, moved)
                    raise
            for cursor in cursors.values():
                cursor.commit()
            # An accepted key rotation: the chain continues under the new key from the next envelope on.
            rotated = apply_key_rotations(self._registry, _accepted_rotations(items, received_ms))
            if rotated and self._on_key_rotation is not None:
                await self._on_key_rotation(rotated)
        return self._ack(items, received_ms)

    def stats(self) -> dict[str, int]:
        """Envelopes answered since start, by status and by rejection code."""
        return dict(self._counts)

    def _codes_judged(self, items: list[_Item]) -> list[str]:
        """The cis of every code an authentic envelope of the request may move (the chain decides which)."""
        if self._codes is None:
            return []
        return [result.cis for item in items if item.device is not None or item.awaits_rotation
                for result in item.codes.values() if result.cis]

    def _undo_codes(self, items: list[_Item]) -> None:
        if self._codes is not None:
            for item in reversed(items):
                self._codes.undo(item.code_undo)

    def _prepare(self, batch: pb.IngestBatch) -> list[_Item]:
        limits = self._settings.limits
        # [:]: a list (see decoding); the ids read once here for every later stage.
        items = [_Item(envelope, envelope.device_id, envelope.seq) for envelope in batch.envelopes[:]]
        for item in items:
            try:
                # The receipt's codes read once here, for the code stages.
                item.event, line_codes, item.content = decoding.decode_envelope_parts(item.envelope, limits)
                item.signed = SignedEnvelope.of(item.envelope, item.event)
                if self._codes is not None and item.event is not None:
                    item.code_places = codes_of(item.event, line_codes)
                    item.codes = parse_codes(item.code_places)
            except EnvelopeRejected as rejection:
                item.rejection = rejection
        return items

    async def _authenticate(self, items: list[_Item]) -> dict[str, list[_Item]]:
        """Authenticate every envelope; returns, by device, those awaiting their device's key rotation."""
        candidates = [item for item in items if item.signed is not None]
        if not candidates:
            return {}
        signed = [item.signed for item in candidates if item.signed is not None]
        # A batch's verifies run on the CPU thread: cryptography's ECDSA verify holds the GIL (no parallelism,
        # docs/performance.md round 9b), but the interpreter's switch interval lets the loop answer other
        # requests between them instead of waiting out a long batch.
        verdicts, awaiting = await VERIFIER.run(functools.partial(authenticate, self._registry, signed))
        for item, verdict in zip(candidates, verdicts, strict=True):
            if isinstance(verdict, Device):
                item.device = verdict
            elif isinstance(verdict, EnvelopeRejected):
                item.rejection = verdict
            else:
                item.awaits_rotation = True
        return {device_id: [candidates[i] for i in indexes] for device_id, indexes in awaiting.items()}

    def _judge_after_rotation(
        self, device_id: str, awaiting: dict[str, list[_Item]], keys: dict[str, _Key]
    ) -> None:
        """Authenticate the envelopes after a device's rotation, now that the chain has decided on it: under
        the new key if it was accepted, else the key before it; up to the next rotation, which waits again.

        A few verifies on the event loop: rotations are rare.
        """
        pending = awaiting.pop(device_id)
        device = self._registry.get(device_id)
        current = self._registry.key(device_id)
        assert device is not None and current is not None  # authenticated up to the rotation
        key = keys.get(device_id, (current, device.key_id))
        signed = [item.signed for item in pending if item.signed is not None]
        verdicts: list[AuthVerdict | None] = [None] * len(pending)
        rest = judge_until_rotation(self._registry, device, key, signed, range(len(pending)), verdicts)
        for item, verdict in zip(pending, verdicts, strict=True):
            if verdict is AWAITS_ROTATION:
                continue
            item.awaits_rotation = False
            if isinstance(verdict, EnvelopeRejected):
                item.rejection = verdict
            else:
                item.device = device
        if rest:
            awaiting[device_id] = [pending[i] for i in rest]

    def _attest(self, items: list[_Item], attested: Sequence[pb.JournalRecord]) -> None:
        for item, record in zip(items, attested, strict=True):
            item.attested = record
            if item.signed is None:
                continue
            item.signed.verified = True  # the gateway made this signature itself: evidence like a checked one
            try:
                item.device = check_device(self._registry, item.envelope)
            except EnvelopeRejected as rejection:
                item.rejection = rejection

    async def _answer_retired_key_resends(self, resends: list[_Item]) -> None:
        """A resend signed by a key the device has rotated away since is a duplicate if it is the envelope
        accepted at its seq (same hash and key) signed by that key; anything else it signs stays unknown_key.

        The register whose ack was lost around a rotation resends what it signed before it: the old key no
        longer signs anything new, but storage holds the accepted envelope's hash, key id and signature (or
        none, if a later one covered it), and the key history the old key: a copy carrying the stored
        signature needs no verify, another one is verified under that key (_signed_as_stored). Only seqs at
        or below the head whose hash the window does not contradict are looked up, so a stranger's
        envelopes cost no envelope query. On a cluster a head this node lacks, or that the seqs would put
        past, is read first, as for a device taken over: at most one head query a device and request,
        under the device's rate limit.
        """
        if not resends:
            return
        if self._load_head is not None:
            heads: dict[str, tuple[str, list[int]]] = {}
            for item in resends:
                device = self._registry.get(item.device_id)
                if device is not None:  # unknown_key is only said of registered devices
                    heads.setdefault(device.device_id, (device.seller_tin, []))[1].append(item.seq)
            await refresh_heads(self._chains, self._load_head, heads)
        wanted: dict[str, list[_Item]] = {}
        for item in resends:
            assert item.signed is not None
            device_id, seq = item.device_id, item.seq
            recent = self._chains.recent(device_id, seq)
            if seq > self._chains.head(device_id).seq or (recent and recent[0] != item.signed.envelope_hash):
                continue
            wanted.setdefault(device_id, []).append(item)
        for device_id, device_items in wanted.items():
            stored = await self._lookup(device_id, [item.seq for item in device_items])
            for item in device_items:
                assert item.signed is not None
                envelope, known = item.envelope, stored.get(item.seq)
                if known is None:
                    if self._chains.recent(device_id, envelope.seq) is not None:  # accepted, not shipped yet
                        item.rejection = EnvelopeRejected(
                            errors.HISTORY_UNAVAILABLE,
                            f"seq {envelope.seq} was signed by a key rotated away since; "
                            "its resend is answered once storage holds it",
                        )
                elif (known.envelope_hash, known.key_id) == (item.signed.envelope_hash, envelope.key_id) and (
                    self._signed_as_stored(item.signed, known)
                ):
                    item.status, item.fiscal_sign, item.rejection = pb.DUPLICATE, known.fiscal_sign, None

    def _signed_as_stored(self, signed: SignedEnvelope, known: KnownEnvelope) -> bool:
        """Whether a resend of a stored envelope is signed by the key that signed it: it carries the stored
        signature, or one that verifies under that key, which the device had (the stored row may keep no
        signature: a later one covered it)."""
        signature = signed.envelope.signature
        if known.signature and known.signature == signature:
            return True
        key = self._registry.known_key(signed.envelope.device_id, signed.envelope.key_id)
        return key is not None and signing.verify_signature(key, signed.preimage, signature)

    async def _cursors(self, items: list[_Item]) -> dict[str, ChainCursor]:
        seqs: dict[str, list[int]] = {}
        for item in items:
            if item.device is not None or item.awaits_rotation:
                seqs.setdefault(item.device_id, []).append(item.seq)
        if self._load_head is not None:
            sellers = {device_id: self._seller_of(device_id) for device_id in seqs}
            wanted = {device_id: (sellers[device_id], device_seqs) for device_id, device_seqs in seqs.items()}
            await refresh_heads(self._chains, self._load_head, wanted)
        cursors: dict[str, ChainCursor] = {}
        for device_id, device_seqs in seqs.items():
            missing = self._chains.missing_history(device_id, device_seqs)
            stored = await self._lookup(device_id, missing) if missing else {}
            cursors[device_id] = self._chains.cursor(device_id, stored)
        return cursors

    def _seller_of(self, device_id: str) -> str:
        device = self._registry.get(device_id)
        return device.seller_tin if device is not None else ""

    def _remember_refused(self, refused: dict[tuple[bytes, str], None]) -> None:
        """The refusals just journalled, so their copies are not (bounded: the oldest are forgotten)."""
        for key in refused:
            self._refused[key] = None
        while len(self._refused) > RECENT_REFUSALS:
            self._refused.popitem(last=False)

    def _decide(
        self, items: list[_Item], cursors: dict[str, ChainCursor], received_ms: int,
        awaiting: dict[str, list[_Item]], record_unproven: Callable[[], bool] | None = None,
    ) -> tuple[list[bytes], dict[tuple[bytes, str], None]]:
        """The journal records of a batch, and the (envelope hash, error) of its signed refusals."""
        records: list[bytes] = []
        refused: dict[tuple[bytes, str], None] = {}
        unproven: dict[tuple[str, str], list[_Item]] = {}  # refusals not proven the device's (see ingest)
        keys: dict[str, _Key] = {}  # by device: the key a rotation accepted in this batch handed over to
        # Every code of the request found in the status index once, before its events are judged.
        slots = self._codes.index.locate(
            result.cis for item in items for result in item.codes.values() if result.cis
        ) if self._codes is not None else {}
        for item in items:
            if item.awaits_rotation:
                self._judge_after_rotation(item.device_id, awaiting, keys)
            if item.device is not None and item.signed is not None:
                self._chain_and_validate(item, cursors[item.device_id], received_ms, slots, keys)
            # A duplicate was recorded the first time; "history out of reach" says nothing about the envelope.
            if item.status == pb.DUPLICATE or (
                item.rejection is not None and item.rejection.error is errors.HISTORY_UNAVAILABLE
            ):
                continue
            if item.device is None and item.rejection is not None:
                unproven.setdefault((item.device_id, item.rejection.error.code), []).append(item)
                continue
            if item.rejection is not None and item.signed is not None:
                key = (item.signed.envelope_hash, item.rejection.error.code)
                if key in self._refused or key in refused:
                    continue  # journalled already: a copy says nothing new
                refused[key] = None
            records.append(self._record(item, received_ms).SerializeToString())
        for first, *rest in unproven.values():
            if record_unproven is not None and not record_unproven():
                self.unrecorded_refusals += 1 + len(rest)
                continue
            record = self._record(first, received_ms)
            _keep_little(record)
            if rest:
                record.detail += f" (and {len(rest)} more like it in the same request)"
            records.append(record.SerializeToString())
        return records, refused

    def _chain_and_validate(
        self, item: _Item, cursor: ChainCursor, received_ms: int, slots: dict[str, Slot],
        keys: dict[str, _Key],
    ) -> None:
        assert item.signed is not None
        envelope, event = item.envelope, item.event
        gap = event.gap_notice if event is not None and event.WhichOneof("body") == "gap_notice" else None
        decision = cursor.decide(envelope, item.signed.envelope_hash, gap)
        item.findings = list(decision.findings)
        if decision.verdict is Verdict.DUPLICATE:
            item.status, item.fiscal_sign = pb.DUPLICATE, decision.fiscal_sign
            return
        if decision.verdict is Verdict.REJECT:
            assert decision.error is not None
            item.rejection = EnvelopeRejected(decision.error, decision.detail)
            return
        try:
            # A rotation takes effect only if accepted, and only to a valid key never revoked here.
            new_key = rotation_key(self._registry, item.device_id, item.signed.rotation)
        except EnvelopeRejected as rejection:
            item.rejection, item.findings = rejection, []
            return
        # Authentic and in its chain: accepted whatever its content (the register cannot un-sign it). What
        # breaks a limit or the clock is journalled as findings; content findings (arithmetic, labels,
        # consent) are found where rows are built: see receipt_validation.content_findings.
        if item.content:
            item.findings.extend(item.content)
        if event is None:
            event_time_ms = 0
        else:
            event_time_ms = event.time_ms
            item.findings.extend(event_time_findings(event, received_ms, self._settings.limits))
        if self._codes is not None and item.device is not None and event is not None:
            code_findings = self._codes.judge_event(
                event, item.device.seller_tin, item.device.store_id, item.code_places, item.codes, slots,
                item.record.code_verdicts, item.code_undo,
            )
            item.findings.extend(code_findings)
        signed = item.signed
        # An OFD register prints its receipts' fiscal number as digits (fiscal_sign.py).
        ofd = item.device is not None and item.device.ofd is not None
        sign = self._fiscal.ticket_number if ofd else self._fiscal.sign
        item.fiscal_sign = sign(item.device_id, item.seq, signed.envelope_hash, event_time_ms)
        item.status = pb.ACCEPTED
        cursor.accept(item.seq, signed.envelope_hash, item.fiscal_sign, decision.next_seq)
        if new_key is not None:
            keys[item.device_id] = new_key

    def _record(self, item: _Item, received_ms: int) -> pb.JournalRecord:
        envelope = item.envelope
        if item.status != pb.ACCEPTED and len(envelope.event) > self._settings.limits.max_event_bytes:
            # A refused oversized event is kept without its bytes, else anyone could fill the journal.
            envelope = pb.Envelope()
            envelope.CopyFrom(item.envelope)
            envelope.ClearField("event")
        # Field by field, empty ones left unset (the same bytes): upb's keyword constructor costs more.
        record = item.record
        record.envelope.CopyFrom(envelope)
        record.received_ms = received_ms
        record.accepted = item.status == pb.ACCEPTED
        if record.accepted and item.signed is not None and not item.signed.verified:
            # Authentic because a later signature of its run covers it: its own was never checked, so it
            # is not kept as if it were evidence (docs/security.md, what events.signature proves).
            record.envelope.ClearField("signature")
        if item.signed is not None:
            record.envelope_hash = item.signed.envelope_hash
        record.fiscal_sign = item.fiscal_sign
        if item.findings:
            record.findings.extend(item.findings)
        record.gateway_id = self._settings.gateway_id
        if item.device is not None:  # authentic: a refusal before that names no seller (see ingest)
            record.seller_tin, record.store_id = item.device.seller_tin, item.device.store_id
        if item.rejection is not None:
            record.error_code, record.detail = item.rejection.error.code, item.rejection.detail
        if item.attested is not None and item.status == pb.ACCEPTED:
            record.MergeFrom(item.attested)  # repeated fields (findings) are appended
        # Whatever kind the event turned out to be, accepted or refused: no buyer in clear in the journal.
        protect_record(self._pii, record, item.event)
        return record

    def _ack(self, items: list[_Item], received_ms: int) -> pb.IngestAck:
        ack = pb.IngestAck(received_ms=received_ms, gateway_id=self._settings.gateway_id)
        acks = ack.acks
        for item in items:
            # Field by field: upb's keyword form of add() costs more (an unset field and "" are the same).
            event_ack = acks.add()
            event_ack.device_id = item.device_id
            event_ack.seq = item.seq
            event_ack.status = item.status
            event_ack.fiscal_sign = item.fiscal_sign
            if item.signed is not None:
                event_ack.envelope_hash = item.signed.envelope_hash
            if item.rejection is not None:
                event_ack.error_code = item.rejection.error.code
                event_ack.detail = item.rejection.detail
                event_ack.retryable = item.rejection.error.retryable
                self._counts[f"rejected:{item.rejection.error.code}"] += 1
            else:
                self._counts[_STATUS_COUNTERS[item.status]] += 1
        return ack

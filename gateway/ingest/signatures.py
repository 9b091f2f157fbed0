"""Authentication stage: the device is registered, active, signs with its key, and the ES256 signatures hold.

A chained run (each envelope's prev_hash is the hash of the one before it in the batch) is authenticated
by ONE verify of its newest envelope: that envelope's signed preimage contains the hash of its
predecessor's preimage, which contains the hash of the one before, and so on, so the one signature
covers the content of the whole run (SHA-256 collision resistance). This holds wherever the run starts;
whether it joins the accepted chain is the chain stage's question. If the newest signature does not
verify, every envelope of the run is verified on its own, so a tampered one is pinpointed.
Only signatures that were verified are stored (SignedEnvelope.verified); the others' envelopes are
covered by a later signature of their chain (docs/security.md says what events.signature proves).

A KeyRotation hands the chain to a new key only once the chain stage has accepted it: what follows a
rotation in the batch waits (AWAITS_ROTATION) and is judged by judge_after_rotation, against the new key
if the rotation was accepted and the old one if not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from gateway import errors
from gateway.devices import Device, DeviceRegistry
from gateway.errors import EnvelopeRejected
from gateway.wire import pb, signing
from gateway.wire.rotation import rotation_in

_BAD_SIGNATURE = "the signature does not verify over this envelope's preimage"


@dataclass(slots=True)
class SignedEnvelope:
    """An envelope with its signing preimage and chain hash computed once (never changed after).

    Not frozen: one is made per envelope, and a frozen dataclass's __init__ costs ~3x.
    """

    envelope: pb.Envelope
    preimage: bytes
    envelope_hash: bytes
    rotation: pb.KeyRotation | None  # the KeyRotation the event carries, if it is one
    verified: bool = False  # its own signature was verified (not only a later one covering it)

    @classmethod
    def of(cls, envelope: pb.Envelope, event: pb.Event | None = None) -> SignedEnvelope:
        """Compute the preimage and hash of a decoded (well-formed) envelope; event: its parsed Event."""
        preimage = signing.event_preimage(
            envelope.device_id, envelope.seq, envelope.prev_hash, envelope.event
        )
        if event is None:
            rotation = rotation_in(envelope.event)
        else:  # the same answer as rotation_in without parsing the event bytes again
            rotation = event.key_rotation if event.WhichOneof("body") == "key_rotation" else None
        return cls(envelope, preimage, signing.envelope_hash(preimage), rotation)


def check_device(registry: DeviceRegistry, envelope: pb.Envelope) -> Device:
    """The registered, active device whose current key signed; raises EnvelopeRejected otherwise."""
    device = check_registered(registry, envelope)
    if envelope.key_id != device.key_id:
        raise EnvelopeRejected(errors.UNKNOWN_KEY, "the key id is not this device's key")
    return device


def check_registered(registry: DeviceRegistry, envelope: pb.Envelope) -> Device:
    """The registered, active device (authenticate checks the key, which a rotation may change)."""
    device = registry.get(envelope.device_id)
    if device is None:
        raise EnvelopeRejected(errors.UNKNOWN_DEVICE, "this device is not registered")
    if not device.active:
        raise EnvelopeRejected(errors.DEVICE_REVOKED, "this device is revoked")
    return device


def chained_runs(items: Sequence[SignedEnvelope]) -> list[list[int]]:
    """Split one device's envelopes (batch order) into maximal runs linked by prev_hash; lists of indexes."""
    runs: list[list[int]] = []
    for index, item in enumerate(items):
        if runs and items[runs[-1][-1]].envelope_hash == item.envelope.prev_hash:
            runs[-1].append(index)
        else:
            runs.append([index])
    return runs


def verify_runs(key: ec.EllipticCurvePublicKey, items: Sequence[SignedEnvelope]) -> list[bool]:
    """Whether each of one device's envelopes (batch order) is authentic: one verify per clean run.

    Marks each envelope whose own signature verified (SignedEnvelope.verified).
    """
    authentic = [False] * len(items)
    for run in chained_runs(items):
        newest = items[run[-1]]
        if signing.verify_signature(key, newest.preimage, newest.envelope.signature):
            newest.verified = True
            for index in run:
                authentic[index] = True
            continue
        for index in run[:-1]:
            item = items[index]
            item.verified = authentic[index] = signing.verify_signature(
                key, item.preimage, item.envelope.signature
            )
    return authentic


class _AwaitsRotation:
    """The verdict on an envelope after an authentic KeyRotation of its device in the same batch."""

    def __repr__(self) -> str:
        return "AWAITS_ROTATION"


AWAITS_ROTATION = _AwaitsRotation()
Verdict = Device | EnvelopeRejected | _AwaitsRotation


def _verify_segment(
    key: ec.EllipticCurvePublicKey,
    device: Device,
    items: Sequence[SignedEnvelope],
    segment: list[int],
    results: list[Verdict | None],
) -> None:
    """Verify envelopes signed under one key."""
    if not segment:
        return
    verdicts = verify_runs(key, [items[i] for i in segment])
    for index, ok in zip(segment, verdicts, strict=True):
        results[index] = device if ok else EnvelopeRejected(errors.BAD_SIGNATURE, _BAD_SIGNATURE)


def _other_key(registry: DeviceRegistry, device_id: str, key_id: str) -> EnvelopeRejected:
    if registry.is_revoked(device_id, key_id):
        return EnvelopeRejected(errors.UNKNOWN_KEY, "this key of the device was revoked")
    return EnvelopeRejected(errors.UNKNOWN_KEY, "the key id is not this device's key")


def judge_until_rotation(
    registry: DeviceRegistry,
    device: Device,
    key: tuple[ec.EllipticCurvePublicKey, str],
    items: Sequence[SignedEnvelope],
    indexes: Sequence[int],
    results: list[Verdict | None],
) -> list[int]:
    """Judge one device's envelopes (indexes, batch order) under key = (public key, key id), up to and
    including the first authentic KeyRotation; the indexes after it are AWAITS_ROTATION, and returned."""
    public_key, key_id = key
    segment: list[int] = []
    for position, index in enumerate(indexes):
        envelope = items[index].envelope
        if envelope.key_id != key_id:
            results[index] = _other_key(registry, device.device_id, envelope.key_id)
            continue
        segment.append(index)
        if items[index].rotation is None:
            continue
        _verify_segment(public_key, device, items, segment, results)
        segment = []
        if results[index] is device:  # authentic: the chain decides whether the key changes
            rest = list(indexes[position + 1 :])
            for later in rest:
                results[later] = AWAITS_ROTATION
            return rest
    _verify_segment(public_key, device, items, segment, results)
    return []


def authenticate(
    registry: DeviceRegistry, items: Sequence[SignedEnvelope]
) -> tuple[list[Verdict], dict[str, list[int]]]:
    """For each envelope (batch order, any devices): its Device if authentic, why it is rejected, or
    AWAITS_ROTATION; and by device, the indexes awaiting its rotation (judge_after_rotation)."""
    results: list[Verdict | None] = [None] * len(items)
    by_device: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        try:
            check_registered(registry, item.envelope)
        except EnvelopeRejected as rejection:
            results[index] = rejection
            continue
        by_device.setdefault(item.envelope.device_id, []).append(index)
    awaiting: dict[str, list[int]] = {}
    for device_id, indexes in by_device.items():
        device = registry.get(device_id)
        key = registry.key(device_id)
        assert device is not None and key is not None  # check_registered passed for these
        rest = judge_until_rotation(registry, device, (key, device.key_id), items, indexes, results)
        if rest:
            awaiting[device_id] = rest
    return [result for result in results if result is not None], awaiting

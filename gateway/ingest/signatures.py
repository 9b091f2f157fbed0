"""Authentication stage: the device is registered, active, signs with its key, and the ES256 signatures hold.

A chained run (each envelope's prev_hash is the hash of the one before it in the batch) is authenticated
by ONE verify of its newest envelope: that envelope's signed preimage contains the hash of its
predecessor's preimage, which contains the hash of the one before, and so on, so the one signature
covers the content of the whole run (SHA-256 collision resistance). This holds wherever the run starts;
whether it joins the accepted chain is the chain stage's question. If the newest signature does not
verify, every envelope of the run is verified on its own, so a tampered one is pinpointed.
Every envelope's signature is stored as sent, verified or not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from gateway import errors
from gateway.devices import Device, DeviceRegistry
from gateway.ingest.decoding import EnvelopeRejected
from gateway.wire import pb, signing
from gateway.wire.rotation import new_key_of, rotation_in

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
    """Whether each of one device's envelopes (batch order) is authentic: one verify per clean run."""
    authentic = [False] * len(items)
    for run in chained_runs(items):
        newest = items[run[-1]]
        if signing.verify_signature(key, newest.preimage, newest.envelope.signature):
            for index in run:
                authentic[index] = True
            continue
        for index in run[:-1]:
            item = items[index]
            authentic[index] = signing.verify_signature(key, item.preimage, item.envelope.signature)
    return authentic


def _verify_segment(
    key: ec.EllipticCurvePublicKey,
    device: Device,
    items: Sequence[SignedEnvelope],
    segment: list[int],
    results: list[Device | EnvelopeRejected | None],
) -> bool:
    """Verify envelopes signed under one key; whether the last of them is authentic."""
    if not segment:
        return False
    verdicts = verify_runs(key, [items[i] for i in segment])
    for index, ok in zip(segment, verdicts, strict=True):
        results[index] = device if ok else EnvelopeRejected(errors.BAD_SIGNATURE, _BAD_SIGNATURE)
    return verdicts[-1]


def authenticate(
    registry: DeviceRegistry, items: Sequence[SignedEnvelope]
) -> list[Device | EnvelopeRejected]:
    """For each envelope (batch order, any devices): its Device if authentic, else why it is rejected."""
    results: list[Device | EnvelopeRejected | None] = [None] * len(items)
    by_device: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        try:
            check_registered(registry, item.envelope)
        except EnvelopeRejected as rejection:
            results[index] = rejection
            continue
        by_device.setdefault(item.envelope.device_id, []).append(index)
    for device_id, indexes in by_device.items():
        device = registry.get(device_id)
        key = registry.key(device_id)
        assert device is not None and key is not None  # check_device passed for these
        key_id = device.key_id
        # A key rotation in the batch, authentic under the current key, hands the rest to the new key;
        # the chain stage accepts what follows it only if the rotation itself is accepted.
        segment: list[int] = []
        for index in indexes:
            envelope = items[index].envelope
            if envelope.key_id != key_id:
                results[index] = EnvelopeRejected(errors.UNKNOWN_KEY, "the key id is not this device's key")
                continue
            segment.append(index)
            rotation = items[index].rotation
            if rotation is None:
                continue
            authentic = _verify_segment(key, device, items, segment, results)
            new = new_key_of(rotation) if authentic else None
            if new is not None:
                key, key_id = new
            segment = []
        _verify_segment(key, device, items, segment, results)
    return [result for result in results if result is not None]

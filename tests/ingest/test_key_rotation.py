"""Key rotations through the whole ingest path: a key signs only once the chain accepted the rotation to it,
and a revoked key never signs again, whatever rotation names it."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.devices import DeviceRegistry, KnownKey, registration_decision, revoked
from gateway.errors import GatewayError
from gateway.ingest.signatures import SignedEnvelope, authenticate
from gateway.security.device_keys import apply_key_rotations
from gateway.wire import pb, signing
from tests.ingest.conftest import NOW_MS, Register, make_gateway, rotation_to


def _statuses(acks: list[pb.EventAck]) -> list[str]:
    return [pb.AckStatus.Name(ack.status) if ack.status != pb.REJECTED else ack.error_code for ack in acks]


def _accepted_key_ids(records: list[pb.JournalRecord]) -> list[str]:
    return [r.envelope.key_id for r in records if r.accepted]


async def test_a_rotation_hands_over_to_the_new_key_and_retires_the_old(register: Register) -> None:
    gateway = make_gateway([register])
    old_key, new_key = register.key, signing.new_private_key()
    batch = [register.envelope(), register.envelope(rotation_to(new_key))]
    register.key = new_key
    batch.append(register.envelope())
    assert _statuses(await gateway.send(*batch)) == ["ACCEPTED"] * 3
    assert gateway.registry.get(register.device_id).key_id == register.key_id  # type: ignore[union-attr]
    stale = Register(register.device_id, key=old_key, seq=register.seq, head=register.head)
    assert _statuses(await gateway.send(stale.envelope())) == ["unknown_key"]
    assert _statuses(await gateway.send(register.envelope())) == ["ACCEPTED"]


@pytest.mark.parametrize(
    "refused_as",
    ["prev_hash_mismatch", "seq_gap", "bad_signature"],
)
async def test_an_envelope_signed_by_a_key_whose_rotation_was_refused_is_refused(
    register: Register, refused_as: str
) -> None:
    # The rotation is authentic (signed by the registered key) but the chain refuses it: the key it names
    # was never the device's, so nothing it signs may be accepted, whatever the batch says after it.
    gateway = make_gateway([register])
    assert _statuses(await gateway.send(register.envelope())) == ["ACCEPTED"]
    head_seq = register.seq
    new_key = signing.new_private_key()
    bad = register.envelope(
        rotation_to(new_key),
        prev_hash=b"\x07" * 32 if refused_as == "prev_hash_mismatch" else None,
        seq=head_seq + 2 if refused_as == "seq_gap" else None,
    )
    if refused_as == "bad_signature":
        bad.signature = bytes(64)
    register.key = new_key
    forged = register.envelope()

    acks = await gateway.send(bad, forged)
    assert _statuses(acks) == [refused_as, "unknown_key"]
    assert gateway.registry.get(register.device_id).key_id != register.key_id  # type: ignore[union-attr]
    assert gateway.chains.head(register.device_id).seq == head_seq
    assert len(_accepted_key_ids(gateway.journal.decoded())) == 1  # only the first sale


async def test_after_a_refused_rotation_the_old_key_goes_on_in_the_same_batch(register: Register) -> None:
    gateway = make_gateway([register])
    head_seq, head = register.seq, register.head
    refused = register.envelope(rotation_to(signing.new_private_key()), prev_hash=b"\x07" * 32)
    register.seq, register.head = head_seq, head  # the device re-signs that seq, under its key
    sale = register.envelope()
    assert _statuses(await gateway.send(refused, sale)) == ["prev_hash_mismatch", "ACCEPTED"]


async def test_rotations_in_one_batch_end_at_the_last_key_and_replay_changes_nothing(
    register: Register,
) -> None:
    # A register back from offline uploads several rotations in one batch.
    gateway = make_gateway([register])
    registered = register.device()
    keys = [signing.new_private_key() for _ in range(3)]
    batch = []
    for key in keys:
        batch.append(register.envelope())
        batch.append(register.envelope(rotation_to(key)))
        register.key = key
    batch.append(register.envelope())
    assert _statuses(await gateway.send(*batch)) == ["ACCEPTED"] * 7
    last = signing.key_id_of(keys[-1].public_key())
    assert gateway.registry.get(register.device_id).key_id == last  # type: ignore[union-attr]
    records = gateway.journal.decoded()
    # The start-up replay of the same records (journal or events): nothing moves back …
    assert apply_key_rotations(gateway.registry, records) == []
    # … and a node that only knew the registration replays them in order to the same key.
    fresh = DeviceRegistry([registered])
    apply_key_rotations(fresh, records)
    assert fresh.get(register.device_id).key_id == last  # type: ignore[union-attr]
    assert _statuses(await gateway.send(register.envelope())) == ["ACCEPTED"]


async def test_a_rotation_to_a_key_that_is_no_p256_key_is_refused(register: Register) -> None:
    gateway = make_gateway([register])
    event = rotation_to(signing.new_private_key())
    event.key_rotation.new_public_key = b"\x04" + bytes(64)
    acks = await gateway.send(register.envelope(event))
    assert _statuses(acks) == ["invalid_rotation"]


async def test_a_revoked_key_never_comes_back_through_a_rotation() -> None:
    register = Register("KKM-STOLEN")
    gateway = make_gateway([register])
    compromised = register.key
    assert _statuses(await gateway.send(register.envelope())) == ["ACCEPTED"]
    # The operator revokes the stolen key and registers the register's new one under the same id.
    gateway.registry.put(revoked(gateway.registry.get(register.device_id)))  # type: ignore[arg-type]
    register.key = signing.new_private_key()
    replacement = dataclasses.replace(register.device(), updated_ms=NOW_MS)
    existing = gateway.registry.get(register.device_id)
    saved = registration_decision(existing, replacement, gateway.registry.revoked_keys(register.device_id))
    assert saved is not None
    gateway.registry.put(saved)

    back = register.envelope(rotation_to(compromised))
    register.key = compromised
    thief = register.envelope()
    acks = await gateway.send(back, thief)
    assert _statuses(acks) == ["device_revoked", "unknown_key"]
    assert "revoked" in acks[0].detail
    assert gateway.registry.get(register.device_id).key_id == saved.key_id  # type: ignore[union-attr]
    # Nor through a registration, even after the key that replaced it was revoked in turn.
    gateway.registry.put(revoked(saved))
    again = dataclasses.replace(
        Register(register.device_id, key=compromised).device(), updated_ms=NOW_MS + 10
    )
    with pytest.raises(GatewayError, match="revoked"):
        registration_decision(
            gateway.registry.get(register.device_id), again, gateway.registry.revoked_keys(register.device_id)
        )


def test_a_stored_rotation_to_a_revoked_key_changes_nothing_at_replay() -> None:
    # A rotation accepted before this rule existed, replayed at start from the journal or from events.
    register = Register("KKM-OLD")
    registry = DeviceRegistry([register.device()])
    compromised = signing.new_private_key()
    public = compromised.public_key()
    registry.put_key(
        register.device_id, KnownKey(signing.key_id_of(public), signing.public_key_pem(public), revoked=True)
    )
    rotation = register.envelope(rotation_to(compromised))
    record = pb.JournalRecord(envelope=rotation, accepted=True, received_ms=NOW_MS)
    assert apply_key_rotations(registry, [record]) == []
    assert registry.get(register.device_id).key_id == register.key_id  # type: ignore[union-attr]


def test_a_revocation_is_never_forgotten_by_the_registry() -> None:
    register = Register("KKM-R")
    registry = DeviceRegistry()
    registry.put(revoked(register.device()))
    # A newer version of the device naming the same key (a stale node's rotation row, say) does not undo it.
    registry.put(dataclasses.replace(register.device(), updated_ms=2**40))
    assert registry.is_revoked(register.device_id, register.key_id)
    assert registry.revoked_keys(register.device_id) == {register.key_id}


def test_what_follows_a_rotation_waits_for_the_chain(register: Register) -> None:
    registry = DeviceRegistry([register.device()])
    new_key = signing.new_private_key()
    batch = [register.envelope(), register.envelope(rotation_to(new_key))]
    register.key = new_key
    batch += [register.envelope(), register.envelope()]
    verdicts, awaiting = authenticate(registry, [SignedEnvelope.of(e) for e in batch])
    assert [type(v).__name__ for v in verdicts] == ["Device", "Device", "_AwaitsRotation", "_AwaitsRotation"]
    assert awaiting == {register.device_id: [2, 3]}


async def test_a_restarted_node_learns_every_key_a_rotation_named(register: Register) -> None:
    # The devices row names only the newest key; the keys between come back from the stored rotations,
    # so a resend signed by one of them (its ack lost around a crash) is still a duplicate.
    gateway = make_gateway([register])
    registered = register.device()
    batch, keys = [], [signing.new_private_key() for _ in range(2)]
    for key in keys:
        batch += [register.envelope(), register.envelope(rotation_to(key))]
        register.key = key
    assert _statuses(await gateway.send(*batch)) == ["ACCEPTED"] * 4
    middle = signing.key_id_of(keys[0].public_key())
    restarted = DeviceRegistry([registered, gateway.registry.get(register.device_id)])  # type: ignore[list-item]
    assert middle not in {k.key_id for k in restarted.history(register.device_id)}
    apply_key_rotations(restarted, gateway.journal.decoded())  # the start-up replay: nothing moves …
    assert restarted.known_key(register.device_id, middle) is not None  # … but the middle key is known

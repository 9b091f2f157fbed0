"""A device's key history as the export states it, from the versions and events storage keeps."""

from __future__ import annotations

from gateway.export.format import REGISTERED, REGISTERED_AFTER_REVOCATION, ROTATION
from gateway.query.export import Rotation, keys_of, revocations_of
from gateway.storage.key_history_store import DeviceVersion, RevocationRecord
from gateway.wire import signing


def _key() -> tuple[str, str, bytes]:
    public = signing.new_private_key().public_key()
    return signing.key_id_of(public), signing.public_key_pem(public), signing.public_key_bytes(public)


def test_registration_then_a_signed_rotation() -> None:
    (k0, pem0, point0), (k1, pem1, point1) = _key(), _key()
    versions = [DeviceVersion(k0, pem0, "active", 100), DeviceVersion(k1, pem1, "active", 200)]
    keys = keys_of(versions, [Rotation(10, k1, point1, 200)], {k0: 1, k1: 11}, head=40)
    assert [(k.key_id, k.public_key, k.from_seq, k.source) for k in keys] == [
        (k0, point0, 1, REGISTERED),
        (k1, point1, 11, ROTATION),
    ]


def test_a_new_key_after_a_revocation_takes_over_where_it_first_signed() -> None:
    (k0, pem0, _), (k2, pem2, point2) = _key(), _key()
    versions = [
        DeviceVersion(k0, pem0, "active", 100),
        DeviceVersion(k0, pem0, "revoked", 300),
        DeviceVersion(k2, pem2, "active", 400),
    ]
    keys = keys_of(versions, [], {k0: 1, k2: 31}, head=50)
    assert [(k.key_id, k.from_seq, k.source, k.at_ms) for k in keys] == [
        (k0, 1, REGISTERED, 100),
        (k2, 31, REGISTERED_AFTER_REVOCATION, 400),
    ]
    assert keys[1].public_key == point2
    # Registered but not signing yet: it would take over after the newest stored event.
    assert keys_of(versions, [], {k0: 1}, head=50)[1].from_seq == 51


def test_a_key_whose_row_was_merged_away_is_named_without_its_public_key() -> None:
    (k0, _, _), (k1, pem1, point1) = _key(), _key()
    keys = keys_of(
        [DeviceVersion(k1, pem1, "active", 200)], [Rotation(9, k1, point1, 200)], {k0: 1, k1: 10}, 20
    )
    assert [(k.key_id, k.public_key, k.from_seq) for k in keys] == [(k0, None, 1), (k1, point1, 10)]


def test_revocations_plain_and_from_a_seq() -> None:
    k0, pem0, _ = _key()
    versions = [
        DeviceVersion(k0, pem0, "active", 100),
        DeviceVersion(k0, pem0, "revoked", 300),  # tracegate devices revoke
        DeviceVersion(k0, pem0, "revoked", 500),  # then: revoke --from-seq 20
        DeviceVersion(k0, pem0, "revoked", 600),  # another plain revoke of a revoked device: nothing new
    ]
    records = [RevocationRecord(k0, 20, 500), RevocationRecord(k0, 7, 999)]  # 999: its save failed
    assert revocations_of(versions, records) == [(300, None), (500, 20)]

"""Device registration rules: who may register what, and how a compromised key is replaced."""

from __future__ import annotations

import pytest

from gateway.devices import Device, new_device, registration_decision, revoked
from gateway.errors import GatewayError
from gateway.wire import signing

TIN = "123456789012"


def _device(device_id: str = "KKM-1", tin: str = TIN) -> Device:
    return new_device(
        device_id, tin, "store-1", signing.public_key_pem(signing.new_private_key().public_key())
    )


def test_new_device_is_saved_and_the_same_registration_again_changes_nothing() -> None:
    device = _device()
    assert registration_decision(None, device) is device
    assert registration_decision(device, device) is None


def test_an_active_device_keeps_its_key_until_a_signed_rotation() -> None:
    with pytest.raises(GatewayError) as err:
        registration_decision(_device(), _device())
    assert err.value.error.code == "conflict" and "KeyRotation" in err.value.detail


def test_a_revoked_device_comes_back_only_under_a_new_key_of_the_same_seller() -> None:
    old = revoked(_device())
    replacement = _device()
    saved = registration_decision(old, replacement)
    assert saved is not None and saved.active and saved.key_id == replacement.key_id
    assert saved.updated_ms > old.updated_ms  # the newer row wins in the ReplacingMergeTree
    with pytest.raises(GatewayError, match="revoked"):
        registration_decision(old, new_device("KKM-1", TIN, "store-1", old.public_key_pem))
    with pytest.raises(GatewayError, match="another seller"):
        registration_decision(old, _device(tin="210987654321"))


@pytest.mark.parametrize(
    "fields",
    [
        ("", TIN, "s"),
        ("x" * 65, TIN, "s"),
        ("KKM", "12345", "s"),
        ("KKM", TIN, ""),
    ],
)
def test_bad_registrations_say_what_is_wrong(fields: tuple[str, str, str]) -> None:
    pem = signing.public_key_pem(signing.new_private_key().public_key())
    with pytest.raises(GatewayError) as err:
        new_device(*fields, pem)
    assert err.value.error.code == "malformed_request"
    with pytest.raises(GatewayError, match="P-256"):
        new_device("KKM", TIN, "s", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")

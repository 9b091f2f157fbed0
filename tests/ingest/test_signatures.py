"""Authentication: device checks, ES256 over the exact preimage, and one verify per clean chained run."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from gateway.devices import DeviceRegistry
from gateway.errors import EnvelopeRejected
from gateway.ingest.signatures import SignedEnvelope, authenticate, chained_runs, check_device, verify_runs
from gateway.wire import pb
from tests.ingest.conftest import Register, receipt


def _signed(envelopes: list[pb.Envelope]) -> list[SignedEnvelope]:
    return [SignedEnvelope.of(envelope) for envelope in envelopes]


def _codes(results: Sequence[object]) -> list[str]:
    return [r.error.code if isinstance(r, EnvelopeRejected) else "ok" for r in results]


def test_device_checks(register: Register) -> None:
    other = Register("KKM-0002")
    revoked = Register("KKM-0003")
    registry = DeviceRegistry([register.device(), revoked.device(status="revoked")])
    assert check_device(registry, register.envelope()).device_id == register.device_id
    stranger_key = register.envelope()
    stranger_key.key_id = other.key_id
    for envelope, code in [
        (other.envelope(), "unknown_device"),
        (revoked.envelope(), "device_revoked"),
        (stranger_key, "unknown_key"),
    ]:
        with pytest.raises(EnvelopeRejected) as caught:
            check_device(registry, envelope)
        assert caught.value.error.code == code


def test_a_clean_run_costs_one_verify(register: Register, verify_calls: list[bytes]) -> None:
    items = _signed(register.run(50))
    assert chained_runs(items) == [list(range(50))]
    assert verify_runs(register.key.public_key(), items) == [True] * 50
    assert verify_calls == [items[-1].preimage]


def test_a_tampered_middle_envelope_is_pinpointed(register: Register, verify_calls: list[bytes]) -> None:
    envelopes = register.run(6)
    envelopes[3].event = receipt(prices=(999_999,)).SerializeToString()  # signature over other bytes now
    items = _signed(envelopes)
    # The changed bytes change its hash: the chain breaks after it, and the run splits there.
    assert chained_runs(items) == [[0, 1, 2, 3], [4, 5]]
    assert verify_runs(register.key.public_key(), items) == [True, True, True, False, True, True]
    # Run 1: its newest fails, then each of the rest on its own; run 2: one verify.
    assert len(verify_calls) == 1 + 3 + 1


def test_a_bad_signature_on_the_newest_falls_back_to_each(
    register: Register, verify_calls: list[bytes]
) -> None:
    envelopes = register.run(4)
    envelopes[3].signature = bytes(64)
    verdicts = verify_runs(register.key.public_key(), _signed(envelopes))
    assert verdicts == [True, True, True, False]
    assert len(verify_calls) == 4


def test_signature_by_another_key_or_over_other_bytes_fails(register: Register) -> None:
    impostor = Register(register.device_id)
    registry = DeviceRegistry([register.device()])
    forged = impostor.envelope()
    forged.key_id = register.key_id
    honest = register.envelope()
    other_bytes = pb.Envelope()
    other_bytes.CopyFrom(register.envelope(advance=False))
    other_bytes.seq += 1  # the seq is signed too
    results, _ = authenticate(registry, _signed([forged, honest, other_bytes]))
    assert _codes(results) == ["bad_signature", "ok", "bad_signature"]


def test_authenticate_keeps_batch_order_across_devices(register: Register) -> None:
    second = Register("KKM-0002")
    registry = DeviceRegistry([register.device(), second.device()])
    a1, b1, a2, b2 = register.envelope(), second.envelope(), register.envelope(), second.envelope()
    b2.signature = bytes(64)
    stranger = Register("KKM-9999").envelope()
    results, _ = authenticate(registry, _signed([a1, b1, stranger, a2, b2]))
    assert _codes(results) == ["ok", "ok", "unknown_device", "ok", "bad_signature"]

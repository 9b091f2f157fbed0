"""The TOKEN/REQNUM rules and the sealed last exchange, without storage."""

from __future__ import annotations

import dataclasses
import os

import pytest

from gateway.devices import Device
from gateway.ingest.fiscal_sign import FiscalSigner
from gateway.ofd.exchange import RegisterExchanges, Remembered, Verdict
from gateway.ofd.framing import FrameHeader
from gateway.ofd.keys import OfdKeys
from gateway.ofd.registration import OfdRegistration, ofd_device, with_token
from gateway.wire import pb, signing

KEYS = OfdKeys(os.urandom(32))
DEVICE = dataclasses.replace(
    ofd_device(OfdRegistration("KKM-1", "123456789012", "s", 7, "010101012345", 100), 100, KEYS, 0),
    updated_ms=1_000,
)


def header(token: int, reqnum: int) -> FrameHeader:
    return FrameHeader(version=203, size=18, device_id=7, token=token, reqnum=reqnum)


def after(token: int, reqnum: int, command: int, next_token: int) -> RegisterExchanges:
    exchanges = RegisterExchanges(KEYS)
    exchange = pb.OfdExchange(token=token, reqnum=reqnum, command=command, answer=b"stored",
                              next_token=next_token)
    exchanges.remember(7, Remembered(1, 2_000, exchange))
    return exchanges


@pytest.mark.parametrize(("token", "reqnum", "command", "verdict"), [
    (100, 5, 1, Verdict.RESEND),  # the same request again
    (100, 5, 5, Verdict.INVALID_RETRY_REQUEST),  # the same TOKEN and REQNUM, another command
    (200, 5, 1, Verdict.INVALID_REQUEST_NUMBER),  # the new token with the last REQNUM
    (100, 6, 1, Verdict.INVALID_TOKEN),  # the old token on a new request
    (0, 6, 1, Verdict.INVALID_TOKEN),
    (201, 6, 1, Verdict.INVALID_TOKEN),
    (200, 6, 1, Verdict.NEW),
    (200, 4, 1, Verdict.NEW),  # REQNUM is no counter the gateway enforces (it wraps, it is reset)
])
def test_the_rules_of_the_design_document(token: int, reqnum: int, command: int, verdict: Verdict) -> None:
    exchanges = after(100, 5, 1, 200)
    assert exchanges.judge(DEVICE, header(token, reqnum), command) == (
        verdict, b"stored" if verdict is Verdict.RESEND else b"")


def test_before_any_exchange_and_after_a_reset_the_registry_token_counts() -> None:
    fresh = RegisterExchanges(KEYS)
    assert fresh.judge(DEVICE, header(100, 1), 1)[0] is Verdict.NEW
    assert fresh.judge(DEVICE, header(101, 1), 1)[0] is Verdict.INVALID_TOKEN
    exchanges = after(100, 5, 1, 200)
    reset = dataclasses.replace(with_token(DEVICE, 300, KEYS), updated_ms=3_000)  # after the exchange
    assert exchanges.judge(reset, header(300, 5), 1)[0] is Verdict.NEW, "rules 1 and 3 no longer apply"
    assert exchanges.judge(reset, header(200, 6), 1)[0] is Verdict.INVALID_TOKEN


def test_a_sealed_exchange_opens_only_under_its_own_key_and_number() -> None:
    exchanges = after(100, 5, 1, 200)
    state = pb.OfdRegisterState(document_number=9)
    log = exchanges.log(7, 2, pb.OfdExchange(token=200, reqnum=6, command=1, answer=b"a", next_token=300,
                                             state=state), 5_000)
    assert b"a" not in log.sealed or (len(log.sealed) > 30 and log.command == 1)
    restored = RegisterExchanges(KEYS)
    assert restored.restore([log]) == 1 and restored.state(7) == state
    moved = pb.OfdExchangeLog()
    moved.CopyFrom(log)
    moved.number = 3  # a log copied onto another number does not open
    other = RegisterExchanges(OfdKeys(os.urandom(32)))
    assert RegisterExchanges(KEYS).restore([moved]) == 0 and other.restore([log]) == 0
    older = exchanges.log(7, 1, pb.OfdExchange(token=1), 1_000)
    restored.restore([older])
    last = restored.last(7)
    assert last is not None and last.number == 2, "the newest wins, whatever the order"


def test_a_register_key_is_derived_per_register_and_epoch_and_signs_what_the_registry_verifies() -> None:
    key = KEYS.register_key("KKM-1", 0)
    assert signing.key_id_of(key.public_key()) == DEVICE.key_id
    assert KEYS.register_key("KKM-1", 1).private_numbers() != key.private_numbers()
    assert OfdKeys(os.urandom(32)).register_key("KKM-1", 0).private_numbers() != key.private_numbers()
    preimage = signing.event_preimage("KKM-1", 1, signing.genesis_hash("KKM-1"), b"event")
    assert signing.verify_signature(DEVICE.public_key(), preimage, signing.sign(key, preimage))
    assert KEYS.token_matches(7, 100, DEVICE.ofd.token_mac if DEVICE.ofd else "")
    assert not KEYS.token_matches(7, 101, DEVICE.ofd.token_mac if DEVICE.ofd else "")


def test_numeric_fiscal_signs_are_ten_digits_and_verify_like_the_printable_ones() -> None:
    signer = FiscalSigner(os.urandom(32))
    number = signer.ticket_number("KKM-1", 3, b"\x01" * 32, 1_790_000_000_000)
    assert len(number) == 10 and number.isdigit() and number[0] != "0"
    assert signer.verify("KKM-1", 3, b"\x01" * 32, 1_790_000_000_000, number)
    assert not signer.verify("KKM-1", 4, b"\x01" * 32, 1_790_000_000_000, number)
    printable = signer.sign("KKM-1", 3, b"\x01" * 32, 1_790_000_000_000)
    assert signer.verify("KKM-1", 3, b"\x01" * 32, 1_790_000_000_000, printable) and printable != number


def test_a_device_is_an_ofd_register_by_its_identity() -> None:
    plain = Device("d", "t", "s", DEVICE.public_key_pem, "k")
    assert DEVICE.protocol == "ofd" and plain.protocol == "tracegate"

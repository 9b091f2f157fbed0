"""The pre-sale check: answered once per signed check, and never naming another seller."""

from __future__ import annotations

import pytest

from gateway.codes.parser import validate_code
from gateway.codes.status_index import StatusIndex
from gateway.errors import GatewayError
from gateway.http.codes_routes import check_response
from gateway.ingest.code_verdicts import CodeVerdicts
from gateway.security.check_replay import CheckNonces
from tests.codes.code_builders import dairy, shoes

NOW_MS = 1_790_000_000_000
WINDOW_MS = 300_000
OWNER, OTHER_SELLER, SELLER = "111111111111", "222222222222", "333333333333"


def _code(admit: CheckNonces, device: str, nonce: bytes, time_ms: int, now_ms: int = NOW_MS) -> str:
    try:
        admit.admit(device, nonce, time_ms, now_ms)
    except GatewayError as exc:
        return exc.error.code
    return "ok"


def test_a_check_is_answered_once_within_the_window() -> None:
    nonces = CheckNonces(WINDOW_MS)
    assert _code(nonces, "KKM-1", b"n" * 12, NOW_MS) == "ok"
    assert _code(nonces, "KKM-1", b"n" * 12, NOW_MS) == "check_replayed"
    assert _code(nonces, "KKM-2", b"n" * 12, NOW_MS) == "ok"  # a nonce is the device's own
    assert _code(nonces, "KKM-1", b"m" * 12, NOW_MS - WINDOW_MS) == "ok"  # a register clock a bit behind
    assert _code(nonces, "KKM-1", b"o" * 12, NOW_MS - WINDOW_MS - 1) == "check_expired"
    assert _code(nonces, "KKM-1", b"p" * 12, NOW_MS + WINDOW_MS + 1) == "check_expired"
    assert _code(nonces, "KKM-1", b"", NOW_MS) == "malformed_request"
    assert _code(nonces, "KKM-1", b"x" * 7, NOW_MS) == "malformed_request"
    assert _code(nonces, "KKM-1", b"x" * 65, NOW_MS) == "malformed_request"
    # Long after, the replay is refused for its age, and the nonce is no longer kept.
    later = NOW_MS + 3 * WINDOW_MS
    assert _code(nonces, "KKM-1", b"n" * 12, NOW_MS, now_ms=later) == "check_expired"
    assert _code(nonces, "KKM-1", b"q" * 12, later, now_ms=later) == "ok"
    assert len(nonces) == 1


def test_a_check_the_journal_refused_may_be_sent_again() -> None:
    nonces = CheckNonces(WINDOW_MS)
    assert _code(nonces, "KKM-1", b"n" * 12, NOW_MS) == "ok"
    nonces.release("KKM-1", b"n" * 12)
    assert _code(nonces, "KKM-1", b"n" * 12, NOW_MS) == "ok"


def test_checks_remembered_at_start_are_refused() -> None:
    nonces = CheckNonces(WINDOW_MS)
    nonces.remember("KKM-1", b"n" * 12, NOW_MS - 1000)  # from the journal replay
    assert _code(nonces, "KKM-1", b"n" * 12, NOW_MS - 1000) == "check_replayed"


@pytest.mark.parametrize("sold_by", [None, OTHER_SELLER])
def test_the_answer_names_no_other_seller_nor_the_registry_owner(sold_by: str | None) -> None:
    index = StatusIndex()
    codes = [shoes(), dairy()]
    for code in codes:
        cis = validate_code(code).cis
        assert cis
        index.put_registry(cis, "introduced", OWNER, 0)
        if sold_by:
            index.record_sale(cis, sold_by, "their-store-9")
    answers = CodeVerdicts(index).check(codes, SELLER, "my-store", NOW_MS)
    assert {a.judgement.verdict for a in answers} == {"already_sold" if sold_by else "not_owner"}
    response = check_response("check-1", NOW_MS, answers).SerializeToString()
    for identity in (OWNER, OTHER_SELLER, "their-store-9"):
        assert identity.encode() not in response

"""The wrong-token budget over time (gateway/ofd/token_failures.py), on a clock the test turns: a register
that lost its token never runs out of it, a guesser gets the documented bound, memory stays bounded."""

from __future__ import annotations

from gateway.ofd.token_failures import TokenFailures, source_of
from gateway.settings import Settings

REGISTER_ID = 200001


class Clock:
    """Seconds that pass only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def defaults(clock: Clock, **how: int) -> TokenFailures:
    settings = Settings()
    return TokenFailures(settings.ofd_token_failures_burst, settings.ofd_token_failures_per_min, clock, **how)


def test_a_register_that_lost_its_token_and_retries_every_minute_never_runs_out() -> None:
    clock = Clock()
    budget = defaults(clock)
    # A technician's few tries at once, then the register's retry at the protocol's shortest reconnect
    # interval (60 s), for a whole day: each is judged (answered 2), none is refused unjudged.
    for _ in range(5):
        assert not budget.exhausted(REGISTER_ID, "10.0.0.7")
        budget.failed(REGISTER_ID, "10.0.0.7")
    for _ in range(24 * 60):
        clock.now += 60
        assert not budget.exhausted(REGISTER_ID, "10.0.0.7")
        budget.failed(REGISTER_ID, "10.0.0.7")


def test_a_guesser_gets_the_burst_then_one_a_minute() -> None:
    clock = Clock()
    budget = defaults(clock)
    judged = 0
    for _ in range(3600 * 10):  # ten guesses a second for an hour, each counted wrong when judged
        clock.now += 0.1
        if not budget.exhausted(REGISTER_ID, "203.0.113.9"):
            budget.failed(REGISTER_ID, "203.0.113.9")
            judged += 1
    assert 20 + 59 <= judged <= 20 + 60, "the documented bound: the burst, then one a minute"
    assert not budget.exhausted(REGISTER_ID, "203.0.113.10"), "another address has its own budget"
    assert not budget.exhausted(REGISTER_ID + 1, "203.0.113.9"), "so has another register"


def test_guesses_in_flight_past_the_budget_are_owed() -> None:
    clock = Clock()
    budget = TokenFailures(3, 1.0, clock)
    for _ in range(13):  # all judged at once: checked before any of them was counted
        budget.failed(REGISTER_ID, "203.0.113.9")
    clock.now += 10 * 60
    assert budget.exhausted(REGISTER_ID, "203.0.113.9"), "ten owed, ten minutes refilled: still none"
    clock.now += 60
    assert not budget.exhausted(REGISTER_ID, "203.0.113.9")


def test_memory_is_bounded_and_the_pair_failed_longest_ago_goes_first() -> None:
    clock = Clock()
    budget = TokenFailures(1, 1.0, clock, max_pairs=3)
    for address in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        budget.failed(REGISTER_ID, address)
    budget.failed(REGISTER_ID, "192.0.2.1")  # touched again: now the newest
    budget.failed(REGISTER_ID, "192.0.2.4")
    assert len(budget) == 3
    assert not budget.exhausted(REGISTER_ID, "192.0.2.2"), "forgotten"
    assert budget.exhausted(REGISTER_ID, "192.0.2.1")


def test_burst_zero_turns_the_budget_off() -> None:
    budget = TokenFailures(0, 1.0, Clock())
    for _ in range(100):
        budget.failed(REGISTER_ID, "203.0.113.9")
    assert not budget.exhausted(REGISTER_ID, "203.0.113.9")
    assert len(budget) == 0


def test_an_ipv6_subscriber_network_is_one_source() -> None:
    assert source_of("2001:db8:1:2:aaaa::1") == source_of("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert source_of("2001:db8:1:3::1") != source_of("2001:db8:1:2::1")
    assert source_of("::ffff:192.0.2.7") == "192.0.2.7"
    assert source_of("fe80::1%eth0") == "fe80::/64"
    assert source_of("192.0.2.7") == "192.0.2.7"
    assert source_of("") == ""

"""Backoff.fixed: the same wait after every failure (MongoBackend's ``backoff`` option)."""

from eventtracking.backoff import Backoff


def test_a_fixed_back_off_waits_the_same_time_after_every_failure():
    now = [100.0]
    backoff = Backoff.fixed(5.0, clock=lambda: now[0])

    assert not backoff.waiting()
    assert [backoff.failed() for _ in range(6)] == [5.0] * 6
    assert backoff.waiting() and backoff.remaining() == 5.0
    now[0] += 4.9
    assert backoff.waiting()
    now[0] += 0.2
    assert not backoff.waiting() and backoff.remaining() == 0.0


def test_a_success_ends_a_fixed_back_off_at_once():
    now = [0.0]
    backoff = Backoff.fixed(5.0, clock=lambda: now[0])
    backoff.failed()

    backoff.succeeded()

    assert not backoff.waiting() and backoff.failures == 0


def test_a_fixed_back_off_of_zero_never_waits():
    backoff = Backoff.fixed(0.0)

    assert backoff.failed() == 0.0
    assert not backoff.waiting()

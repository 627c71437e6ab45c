"""The in-process Job controller's writes are paced like kube-controller-manager's client
(a token bucket: `--kube-api-qps`, `--kube-api-burst`). Checked on a fake clock."""

from __future__ import annotations

import pytest

from tests.harness.kube._controller import ClientRateLimit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_is_free_then_writes_wait_one_refill_each() -> None:
    clock = Clock()
    limit = ClientRateLimit(qps=20, burst=3, clock=clock)
    assert [limit.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limit.reserve() == pytest.approx(0.05)
    assert limit.reserve() == pytest.approx(0.10)  # queued behind the previous debt


def test_tokens_refill_with_time_up_to_the_burst() -> None:
    clock = Clock()
    limit = ClientRateLimit(qps=10, burst=2, clock=clock)
    limit.reserve(), limit.reserve()
    clock.now += 0.1  # one token back
    assert limit.reserve() == pytest.approx(0.0, abs=1e-9)
    assert limit.reserve() == pytest.approx(0.1)
    clock.now += 60  # a long pause refills only up to the burst
    assert [limit.reserve() for _ in range(2)] == [0.0, 0.0]
    assert limit.reserve() == pytest.approx(0.1)


def test_zero_or_negative_qps_means_unlimited() -> None:
    for qps in (0, -1):
        limit = ClientRateLimit(qps=qps, burst=1, clock=Clock())
        assert all(limit.reserve() == 0.0 for _ in range(1000))


async def test_take_waits_out_the_debt() -> None:
    clock = Clock()  # stands still: no refill however long the loop takes (a loaded machine)
    limit = ClientRateLimit(qps=10, burst=1, clock=clock)
    await limit.take()
    await limit.take()  # sleeps a tenth of a second, then the token is spent
    assert limit.reserve() == pytest.approx(0.2)

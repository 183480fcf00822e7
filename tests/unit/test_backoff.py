"""The one backoff rule, and the numbers each retry loop keeps with it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.kit.backoff import backoff
from services.kit.messaging import retry_delay
from services.kit.outbox import _retry_delay
from services.notifications import domain


def test_the_delay_doubles_from_its_base_up_to_its_cap() -> None:
    assert [backoff(n, base=0.5, cap=5.0) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_no_failure_count_overflows_the_delay() -> None:
    assert backoff(10_000, base=0.2, cap=30.0) == 30.0
    assert backoff(-1, base=0.2, cap=30.0) == 0.2


@pytest.mark.parametrize("draw", [0.0, 0.25, 0.5, 0.999999])
def test_jitter_scales_the_delay_into_its_upper_half(draw: float) -> None:
    delay = backoff(3, base=1.0, cap=600.0, jitter=draw)
    assert 4.0 <= delay < 8.0
    assert delay == 8.0 * (0.5 + draw / 2)


def test_each_retry_loop_keeps_its_numbers() -> None:
    # A redelivered message: 0.5 s after its first delivery, at most 10 s.
    assert [retry_delay(d) for d in (1, 2, 5, 6)] == [0.5, 1.0, 8.0, 10.0]
    # An outbox row that failed alone: 1 s, 2 s, 4 s … at most 5 minutes.
    assert [_retry_delay(a) for a in (0, 1, 8, 9, 50)] == [
        timedelta(seconds=s) for s in (1, 2, 256, 300, 300)
    ]
    # An email: 1-2 s, 2-4 s … at most 10 minutes, jittered.
    assert [domain.retry_delay_seconds(a, 0.0) for a in (1, 2, 9, 10)] == [1.0, 2.0, 256.0, 300.0]
    assert domain.retry_delay_seconds(40, 0.999999) < 600.0

"""When the scheduler ticks, decided from the clock it is given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.scheduler.domain import next_tick_at, tick_due

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_the_first_tick_is_due_at_once() -> None:
    assert tick_due(NOW, None, HOUR)
    assert next_tick_at(NOW, None, HOUR) == NOW


def test_a_tick_is_due_one_interval_after_the_last() -> None:
    assert not tick_due(NOW, NOW - HOUR + timedelta(seconds=1), HOUR)
    assert tick_due(NOW, NOW - HOUR, HOUR)
    assert next_tick_at(NOW, NOW - timedelta(minutes=10), HOUR) == NOW + timedelta(minutes=50)


def test_after_downtime_one_catch_up_tick_is_sent_now_not_a_burst() -> None:
    last = NOW - 30 * HOUR
    assert next_tick_at(NOW, last, HOUR) == NOW
    # Once it is sent, the next is a whole interval later.
    assert next_tick_at(NOW + timedelta(seconds=1), NOW, HOUR) == NOW + HOUR

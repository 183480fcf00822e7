"""When the next sweep is due, pure: the scheduler passes its clock in."""

from __future__ import annotations

from datetime import datetime, timedelta


def tick_due(now: datetime, last_tick_at: datetime | None, interval: timedelta) -> bool:
    return last_tick_at is None or now - last_tick_at >= interval


def next_tick_at(now: datetime, last_tick_at: datetime | None, interval: timedelta) -> datetime:
    """Now when a tick is due; otherwise one interval after the last.

    After downtime the due tick is sent at `now`, once: a single catch-up tick
    sweeps everything that became due meanwhile, so there is no burst.
    """
    if tick_due(now, last_tick_at, interval):
        return now
    assert last_tick_at is not None
    return last_tick_at + interval

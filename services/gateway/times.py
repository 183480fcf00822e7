"""Moments as people read them: in the slot's own time zone, named by its place."""

from __future__ import annotations

from datetime import date, datetime

from services.kit.zones import place, zone_of

__all__ = ["clock", "day", "place", "when", "zone_of"]


def when(moment: datetime | None, zone: str | None = "UTC", *, named: bool = True) -> str:
    """A moment in the slot's time zone, named by its place (unless the page names the
    zone once, `named=False`)."""
    if moment is None:
        return "—"
    text = f"{moment.astimezone(zone_of(zone)):%a %d %b %Y, %H:%M}"
    return f"{text} ({place(zone)})" if named else text


def day(moment: date) -> str:
    """A day as the pages write it: Sun 06 Dec 2026 (dashboard.js's pageDay agrees)."""
    return f"{moment:%a %d %b %Y}"


def clock(moment: datetime | None, zone: str | None = "UTC") -> str:
    """Only the time of day, in the slot's zone: 19:00."""
    return "—" if moment is None else f"{moment.astimezone(zone_of(zone)):%H:%M}"

"""Moments as people read them: in the reader's time zone (the mentor's pages) or the
slot's (the mentee's), named by its place."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, TypeGuard

from contracts.messages import known_zone
from services.kit.zones import place, zone_of

__all__ = [
    "ZONE_COOKIE",
    "Reader",
    "clock",
    "day",
    "for_mentee",
    "place",
    "reader",
    "when",
    "zone_of",
]


def when(moment: datetime | None, zone: str | None = "UTC", *, named: bool = True) -> str:
    """A moment in `zone`, named by its place (unless the page names the zone once,
    `named=False`)."""
    if moment is None:
        return "—"
    text = f"{moment.astimezone(zone_of(zone)):%a %d %b %Y, %H:%M}"
    return f"{text} ({place(zone)})" if named else text


def day(moment: date) -> str:
    """A day as the pages write it: Sun 06 Dec 2026 (dashboard.js's pageDay agrees)."""
    return f"{moment:%a %d %b %Y}"


def clock(moment: datetime | None, zone: str | None = "UTC") -> str:
    """Only the time of day, in `zone`: 19:00."""
    return "—" if moment is None else f"{moment.astimezone(zone_of(zone)):%H:%M}"


ZoneSource = Literal["mentor", "browser", "default"]
# The cookie dashboard.js keeps the browser's IANA zone in.
ZONE_COOKIE = "tz"


@dataclass(frozen=True)
class Reader:
    """The zone the reader of a page reads its times in, and whose it is: the mentor's
    own (Stripe metadata), their browser's, or UTC when neither is known."""

    zone: str
    source: ZoneSource

    @property
    def words(self) -> str:
        """How the page names it, once: "Sao Paulo time (America/Sao_Paulo)"."""
        return "UTC" if self.zone == "UTC" else f"{place(self.zone)} time ({self.zone})"

    @property
    def whose(self) -> str:
        """Why the page reads in it: ", your time zone"; nothing for the default."""
        return {"mentor": ", your time zone", "browser": ", your browser's time zone"}.get(
            self.source, ""
        )


def reader(mentor_zone: str | None, browser_zone: str | None) -> Reader:
    """The mentor's zone when known, else the browser's, else UTC; a zone the server
    does not know (a forged or mangled cookie) is no zone."""
    if _known(mentor_zone):
        return Reader(mentor_zone, "mentor")
    if _known(browser_zone):
        return Reader(browser_zone, "browser")
    return Reader("UTC", "default")


def _known(zone: str | None) -> TypeGuard[str]:
    try:
        return zone is not None and known_zone(zone) == zone
    except ValueError:
        return False


def for_mentee(moment: datetime | None, slot_zone: str, reading_zone: str) -> str:
    """The mentee's local time of a session, when it reads otherwise than the reader's:
    "17:00 for the mentee in Lisbon", with the day when that differs too."""
    if moment is None:
        return ""
    theirs, ours = moment.astimezone(zone_of(slot_zone)), moment.astimezone(zone_of(reading_zone))
    if theirs.replace(tzinfo=None) == ours.replace(tzinfo=None):
        return ""
    shown = f"{theirs:%H:%M}" if theirs.date() == ours.date() else f"{theirs:%a %d %b, %H:%M}"
    return f"{shown} for the mentee in {place(slot_zone)}"

"""Calendar invitations (iCalendar, RFC 5545/5546) for the booking emails, and each
person's calendar feed, built with the `icalendar` package.

Each booking is one event whose `UID` is derived from its booking id alone, so that
every email about it (the reminder's invitation, the cancellation) and the feeds speak
of the same event: a calendar that added it from an invitation removes it on the
`METHOD:CANCEL`, and finds it again, not twice, in a subscribed feed. Everything is a
function of its arguments, so a rendered invitation never changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from icalendar import Calendar, Event, vCalAddress

from services.notifications.domain import Contacts, FeedSession, Method, Session

PRODID = "-//mentorship-attendance//sessions//EN"
DOMAIN = "mentorship-attendance"


@dataclass(frozen=True)
class Party:
    name: str
    email: str


def uid(booking_id: UUID) -> str:
    return f"{booking_id}@{DOMAIN}"


def invitation(
    method: Method,
    sessions: Sequence[Session],
    *,
    organizer: Party,
    attendee: Party,
    summary: str,
    stamp: datetime,
) -> str:
    """An iCalendar object with one event per session: an invitation (`REQUEST`) or its
    withdrawal (`CANCEL`, a higher `SEQUENCE` than the invitation's, as RFC 5546 asks).

    Times are written in UTC: a time with a bare offset (a make-up booked as the page
    sends it, `-03:00`) would otherwise be written with `TZID=UTC-03:00`, a zone no
    VTIMEZONE describes, which calendars read as a floating local time."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", method)
    for session in sessions:
        event = Event()
        event.add("uid", uid(session.booking_id))
        event.add("dtstamp", stamp.astimezone(UTC))
        event.add("dtstart", session.starts_at.astimezone(UTC))
        event.add("dtend", session.ends_at.astimezone(UTC))
        event.add("summary", summary)
        event.add("sequence", 0 if method == "REQUEST" else 1)
        event.add("status", "CONFIRMED" if method == "REQUEST" else "CANCELLED")
        event.add("organizer", _address(organizer))
        event.add("attendee", _address(attendee, attending=True))
        calendar.add_component(event)
    ics: bytes = calendar.to_ical()
    return ics.decode()


def summary(contacts: Contacts) -> str:
    return f"Mentorship session: {contacts.mentee_name} with {contacts.mentor_name}"


def feed(sessions: Sequence[FeedSession], *, stamp: datetime) -> str:
    """A subscribed calendar (no METHOD: not an invitation) with one event per session,
    in its slot's zone, each zone described by a VTIMEZONE."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", "Mentorship sessions")
    for s in sessions:
        zone = s.contacts.slot.zone
        event = Event()
        event.add("uid", uid(s.session.booking_id))
        event.add("dtstamp", stamp)
        event.add("dtstart", s.session.starts_at.astimezone(zone))
        event.add("dtend", s.session.ends_at.astimezone(zone))
        event.add("summary", summary(s.contacts))
        event.add("sequence", 0)
        event.add("status", "CONFIRMED")
        calendar.add_component(event)
    calendar.add_missing_timezones()
    ics: bytes = calendar.to_ical()
    return ics.decode()


def method_of(ics: str) -> Method:
    """The METHOD of an invitation `invitation` built (the MIME part names it too)."""
    method = Calendar.from_ical(ics).get("method")
    return "CANCEL" if str(method).upper() == "CANCEL" else "REQUEST"


def _address(party: Party, *, attending: bool = False) -> vCalAddress:
    address = vCalAddress(f"mailto:{party.email}")
    address.params["cn"] = party.name
    if attending:
        address.params["role"] = "REQ-PARTICIPANT"
        address.params["partstat"] = "NEEDS-ACTION"
        address.params["rsvp"] = "FALSE"
    return address

"""Reminders and calendar invitations, without I/O: which offset a tick announces, what
the reminder, make-up and cancellation emails say, and the iCalendar part they carry
(parsed back with the `icalendar` package, as a calendar would read it)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

import pytest
from icalendar import Calendar
from pydantic import ValidationError

from contracts import (
    BookingCancelled,
    BookingRef,
    BookingReminderDue,
    BookingsCancelled,
    BookingsScheduled,
    Slot,
)
from services.booking import domain as booking
from services.kit.durations import duration_words
from services.kit.settings import Settings
from services.notifications import calendar, domain
from services.notifications.domain import Contacts, Email, Session
from services.notifications.sender import build_message, render_message
from services.notifications.templates import Templates
from tests.unit.test_notifications_emails import well_formed_text

TICK = datetime(2026, 4, 5, 18, 0, tzinfo=UTC)
START = datetime(2026, 4, 6, 17, 0, tzinfo=UTC)  # Monday 18:00 in Lisbon
SUBSCRIPTION, MENTEE, MENTOR = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
CONTACTS = Contacts(
    mentee_name="João Ñúñez",
    mentee_email="joao@example.com",
    mentor_name="Otto Mentor",
    mentor_email="otto@example.com",
    slot=Slot(weekday=0, start_time="18:00", duration_minutes=60, timezone="Europe/Lisbon"),
    cycle_ends_at=datetime(2026, 4, 27, tzinfo=UTC),
)


def due(booking_id: uuid.UUID, hours: int) -> booking.DueReminder:
    return booking.DueReminder(
        booking_id, SUBSCRIPTION, MENTEE, MENTOR, START, START + timedelta(hours=1), hours
    )


def reminder(hours: int = 24, booking_id: uuid.UUID | None = None) -> BookingReminderDue:
    [event] = booking.reminders([due(booking_id or uuid.uuid4(), hours)], TICK)
    return event


def test_a_tick_announces_the_nearest_offset_due_per_booking() -> None:
    late, early = uuid.uuid4(), uuid.uuid4()
    events = booking.reminders([due(late, 24), due(late, 1), due(early, 24)], TICK)
    assert {(e.booking_id, e.hours_before) for e in events} == {(late, 1), (early, 24)}
    assert all(e.due_at == TICK == e.occurred_at for e in events)


def test_a_replayed_tick_writes_the_same_reminder_ids() -> None:
    b = uuid.uuid4()
    first = booking.reminders([due(b, 24)], TICK)
    again = booking.reminders([due(b, 24)], TICK + timedelta(minutes=5))
    assert [e.event_id for e in first] == [e.event_id for e in again]
    assert first[0].event_id != booking.reminders([due(b, 1)], TICK)[0].event_id


@pytest.mark.parametrize(
    ("raw", "hours"), [("24,1", (24, 1)), ("1, 24 ,24", (24, 1)), ("", ()), ("6", (6,))]
)
def test_reminder_hours_come_as_a_comma_separated_list(
    raw: str, hours: tuple[int, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMINDER_HOURS_BEFORE", raw)
    assert Settings().reminder_hours_before == hours


@pytest.mark.parametrize("raw", ["0", "-1", "1.5", "soon"])
def test_a_reminder_hour_that_is_not_a_whole_positive_hour_is_refused(
    raw: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMINDER_HOURS_BEFORE", raw)
    with pytest.raises(ValidationError, match="whole hours"):
        Settings()


def parsed(email: Email) -> tuple[EmailMessage, Calendar]:
    """The email as a receiving server reads it, and its calendar part as a calendar."""
    message = message_from_bytes(render_message(email, "mentorship@localhost"), policy=default)
    assert isinstance(message, EmailMessage)
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert part.get_filename() == "invite.ics"
    ics = part.get_content()
    assert part.get_param("method") == Calendar.from_ical(ics)["method"]
    return message, Calendar.from_ical(ics)


def test_a_reminder_invites_mentee_and_mentor_to_the_session_in_the_slots_zone() -> None:
    event = reminder()
    to_mentee, to_mentor = Templates().compose(event, CONTACTS)
    assert (to_mentee.recipient, to_mentor.recipient) == ("joao@example.com", "otto@example.com")
    assert "Monday 6 April 2026 at 18:00 (Europe/Lisbon)" in to_mentee.subject
    assert "João Ñúñez" in to_mentor.subject
    for email in (to_mentee, to_mentor):
        message, cal = parsed(email)
        assert message.get_body(("plain",)) is not None
        assert cal["method"] == "REQUEST"
        [vevent] = cal.walk("VEVENT")
        assert str(vevent["uid"]) == f"{event.booking_id}@mentorship-attendance"
        assert vevent.decoded("dtstart") == START
        assert vevent.decoded("dtend") == START + timedelta(hours=1)
        assert str(vevent["organizer"]) == "mailto:otto@example.com"
        assert str(vevent["attendee"]) == "mailto:joao@example.com"
        assert vevent["attendee"].params["CN"] == "João Ñúñez"


def test_a_mentees_cancellation_withdraws_the_same_event() -> None:
    event = reminder()
    invited = Calendar.from_ical(Templates().compose(event, CONTACTS)[0].calendar or "")
    cancelled = BookingCancelled(
        occurred_at=TICK,
        booking_id=event.booking_id,
        subscription_id=SUBSCRIPTION,
        mentee_id=MENTEE,
        mentor_id=MENTOR,
        starts_at=START,
        ends_at=START + timedelta(hours=1),
        cancelled_at=TICK,
        status="cancelled_in_time",
    )
    [email] = Templates().compose(cancelled, CONTACTS)
    _, cal = parsed(email)
    [request], [cancel] = invited.walk("VEVENT"), cal.walk("VEVENT")
    assert cal["method"] == "CANCEL" and cancel["status"] == "CANCELLED"
    assert cancel["uid"] == request["uid"]
    assert cancel["sequence"] > request["sequence"]


def test_sessions_cancelled_by_booking_are_withdrawn_in_one_email() -> None:
    sessions = [
        Session(uuid.uuid4(), START + timedelta(weeks=w), START + timedelta(weeks=w, hours=1))
        for w in (0, 1)
    ]
    msg = BookingsCancelled(
        occurred_at=TICK,
        subscription_id=SUBSCRIPTION,
        booking_ids=[s.booking_id for s in sessions],
        reason="reprobation",
    )
    [email] = Templates().compose(msg, CONTACTS, sessions)
    assert (email.recipient, email.cc) == ("joao@example.com", "otto@example.com")
    assert "reprobated" in email.text_body and "Monday 13 April 2026" in email.text_body
    _, cal = parsed(email)
    assert cal["method"] == "CANCEL"
    assert [str(e["uid"]) for e in cal.walk("VEVENT")] == [
        calendar.uid(s.booking_id) for s in sessions
    ]


def test_the_bytes_sent_carry_the_same_invitation_as_the_reference_message() -> None:
    for email in Templates().compose(reminder(), CONTACTS):
        sent, cal = parsed(email)
        reference = message_from_bytes(
            build_message(email, "mentorship@localhost").as_bytes(
                policy=default.clone(linesep="\r\n")
            ),
            policy=default,
        )
        [part] = [p for p in reference.walk() if p.get_content_type() == "text/calendar"]
        assert isinstance(part, EmailMessage)
        assert Calendar.from_ical(part.get_content()) == cal
        assert part.get_param("method") == "REQUEST"
        for kind in ("plain", "html"):
            got, expected = sent.get_body((kind,)), reference.get_body((kind,))
            assert got is not None and expected is not None
            assert got.get_content() == expected.get_content()


# --- make-ups ----------------------------------------------------------------------

MAKEUP_START = datetime(2026, 4, 9, 16, 30, tzinfo=UTC)  # Thursday 17:30 in Lisbon
# Sunday 23:30 UTC: already Monday in Lisbon, the day the email names.
MISSED = Session(uuid.uuid4(), datetime(2026, 4, 5, 23, 30, tzinfo=UTC), START)


def makeup(
    booking_id: uuid.UUID | None = None, minutes: int = 90, kind: str = "makeup"
) -> BookingsScheduled:
    return BookingsScheduled.model_validate(
        {
            "occurred_at": TICK,
            "subscription_id": SUBSCRIPTION,
            "mentee_id": MENTEE,
            "mentor_id": MENTOR,
            "bookings": [
                BookingRef(
                    booking_id=booking_id or uuid.uuid4(),
                    starts_at=MAKEUP_START,
                    ends_at=MAKEUP_START + timedelta(minutes=minutes),
                )
            ],
            "timezone": "Europe/Lisbon",
            "kind": kind,
            "makeup_for": MISSED.booking_id,
        }
    )


def read_as(email: Email) -> tuple[str, str]:
    """The text and the HTML part as a reader reads them: one line, tags dropped (the
    HTML checked well formed)."""
    message, _ = parsed(email)
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert isinstance(text, EmailMessage) and isinstance(html, EmailMessage)
    # The HTML's <title> repeats the subject ahead of its body.
    body = well_formed_text(html.get_content()).removeprefix(email.subject).strip()
    return " ".join(text.get_content().split()), body


def test_a_makeup_tells_the_mentee_mentor_in_copy_when_it_is_and_what_it_makes_up() -> None:
    # The mentor reads times in their own zone elsewhere; this email is the mentee's.
    contacts = replace(CONTACTS, mentor_timezone="Asia/Tokyo")
    [email] = Templates().compose(makeup(), contacts, [MISSED])
    assert (email.recipient, email.cc) == ("joao@example.com", "otto@example.com")
    assert email.routing_key == "bookings.scheduled"
    assert email.subject == (
        "Make-up session booked with Otto Mentor: Thursday 9 April 2026 at 17:30 (Europe/Lisbon)"
    )
    said = (
        "Hello João Ñúñez, Otto Mentor booked your make-up session for the session they "
        "missed on Monday 6 April 2026. It is on Thursday 9 April 2026 at 17:30 "
        "(Europe/Lisbon) and lasts 1 hour 30 minutes. The invitation attached adds it to "
        "your calendar."
    )
    text, html = read_as(email)
    assert text.startswith(said) and html.startswith(said)


def test_a_makeup_whose_missed_session_is_not_known_is_worded_without_it() -> None:
    [email] = Templates().compose(makeup(minutes=60), CONTACTS)
    for part in read_as(email):
        assert "Otto Mentor booked your make-up session for a session they missed. " in part
        assert "It is on Thursday 9 April 2026 at 17:30 (Europe/Lisbon) and lasts 1 hour." in part
        assert "missed on" not in part


def test_a_makeup_invites_to_its_session_as_the_reminder_of_that_booking_will() -> None:
    booking_id = uuid.uuid4()
    [email] = Templates().compose(makeup(booking_id), CONTACTS, [MISSED])
    message, cal = parsed(email)
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert part.get_param("method") == "REQUEST" and cal["method"] == "REQUEST"
    [vevent] = cal.walk("VEVENT")
    assert str(vevent["uid"]) == f"{booking_id}@mentorship-attendance"
    assert vevent.decoded("dtstart") == MAKEUP_START
    assert vevent.decoded("dtend") == MAKEUP_START + timedelta(minutes=90)
    assert vevent.decoded("dtstamp") == TICK
    # Its reminder (same booking, same session) invites to the very same event.
    reminded = reminder(booking_id=booking_id).model_copy(
        update={"starts_at": MAKEUP_START, "ends_at": MAKEUP_START + timedelta(minutes=90)}
    )
    [same] = Calendar.from_ical(Templates().compose(reminded, CONTACTS)[0].calendar or "").walk(
        "VEVENT"
    )
    assert {k: v for k, v in vevent.items()} == {k: v for k, v in same.items()}


def test_a_makeup_booked_with_an_offset_is_invited_at_that_instant() -> None:
    """Booked on the page, a make-up's times carry the mentor's offset (-03:00 in Sao
    Paulo): the invitation still names the instant, in UTC, not a zone no VTIMEZONE
    describes (which a calendar reads as a floating local time)."""
    sao_paulo = timezone(timedelta(hours=-3))
    booked = makeup().model_copy(
        update={
            "bookings": [
                BookingRef(
                    booking_id=uuid.uuid4(),
                    starts_at=MAKEUP_START.astimezone(sao_paulo),
                    ends_at=(MAKEUP_START + timedelta(hours=1)).astimezone(sao_paulo),
                )
            ],
            "occurred_at": TICK.astimezone(sao_paulo),
        }
    )
    [email] = Templates().compose(booked, CONTACTS, [MISSED])
    assert "TZID" not in (email.calendar or "")
    [vevent] = parsed(email)[1].walk("VEVENT")
    assert vevent.decoded("dtstart") == MAKEUP_START
    assert vevent.decoded("dtstart").utcoffset() == timedelta(0)
    assert vevent.decoded("dtend") == MAKEUP_START + timedelta(hours=1)
    assert vevent.decoded("dtstamp") == TICK


def test_a_makeup_is_one_email_per_booking_and_slot_bookings_are_none() -> None:
    booking_id = uuid.uuid4()
    first, replayed = makeup(booking_id), makeup(booking_id)
    assert first.event_id != replayed.event_id
    [a], [b] = (Templates().compose(m, CONTACTS) for m in (first, replayed))
    assert a.message_id == b.message_id
    assert a.message_id != Templates().compose(makeup(), CONTACTS)[0].message_id
    slot = makeup(kind="slot")
    empty = first.model_copy(update={"bookings": []})
    assert domain.makeups([slot, first, empty, replayed]) == [first, replayed]


def test_a_makeup_is_not_emailed_without_contacts_or_once_cancelled() -> None:
    event = makeup()
    [booked] = domain.booked_of(event)
    assert domain.makeup_skipped(event, {SUBSCRIPTION}, set()) is None
    assert domain.makeup_skipped(event, set(), set()) == "contacts not known: no make-up email"
    assert (
        domain.makeup_skipped(event, {SUBSCRIPTION}, {booked.booking_id})
        == "make-up already cancelled: no email"
    )
    assert domain.missed_of(event, {MISSED.booking_id: MISSED}) == [MISSED]
    assert domain.missed_of(event, {}) == []
    assert domain.missed_of(event.model_copy(update={"makeup_for": None}), {}) == []


@pytest.mark.parametrize(
    ("minutes", "words"),
    [
        (60, "1 hour"),
        (90, "1 hour 30 minutes"),
        (45, "45 minutes"),
        (120, "2 hours"),
        (61, "1 hour 1 minute"),
        (0, "0 minutes"),
    ],
)
def test_a_duration_reads_in_hours_and_minutes(minutes: int, words: str) -> None:
    assert duration_words(timedelta(minutes=minutes)) == words

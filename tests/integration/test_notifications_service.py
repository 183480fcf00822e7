"""The notifications service in-process, with the real broker, database and an SMTP server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta

import aio_pika
import pytest
import pytest_asyncio
from icalendar import Calendar
from sqlalchemy import ColumnElement, func, select

from contracts import (
    BookingRef,
    BookingsCancelled,
    BookingsScheduled,
    Event,
    MenteeReactivated,
    MenteeReprobated,
    MenteeWarned,
    Mentor,
    Person,
    Slot,
    SubscriptionActivated,
)
from contracts.rpc import GetCalendarFeed, OpenCalendarFeed
from services.kit.database import Tx
from services.kit.messaging import REASON_HEADER
from services.kit.runtime import ServiceRuntime
from services.kit.settings import Settings
from services.notifications import handlers
from services.notifications.app import create_runtime
from services.notifications.domain import LifecycleEvent
from services.notifications.store import contacts, emails, sessions, waiting_events
from services.notifications.templates import Templates
from tests.conftest import derived
from tests.support.listening import publish
from tests.support.settling import applied
from tests.support.smtp import RecordingSMTPServer, plain_text
from tests.support.waiting import eventually

MONDAY = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def smtp() -> Iterator[RecordingSMTPServer]:
    server = RecordingSMTPServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def settings(settings: Settings, smtp: RecordingSMTPServer) -> Settings:
    return derived(settings, "ntf").model_copy(update={"smtp_port": smtp.port})


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def notifications(settings: Settings) -> AsyncIterator[ServiceRuntime]:
    runtime = create_runtime(settings)
    app = runtime.app()
    await app.start()
    try:
        yield runtime
    finally:
        await app.stop()


class Mentorship:
    def __init__(self, mentor: Mentor | None = None, activated_at: datetime = MONDAY) -> None:
        tag = uuid.uuid4().hex[:8]
        self.mentee = Person(id=uuid.uuid4(), name="Maria Lima", email=f"maria.{tag}@example.com")
        self.mentor = mentor or Mentor(
            id=uuid.uuid4(), name="Otto Berg", email=f"otto.{tag}@example.com"
        )
        self.activated_at = activated_at
        self.subscription_id = uuid.uuid4()

    def activated(self) -> SubscriptionActivated:
        return SubscriptionActivated(
            occurred_at=self.activated_at,
            subscription_id=self.subscription_id,
            mentee=self.mentee,
            mentor=self.mentor,
            slot=Slot(
                weekday=0, start_time="18:00", duration_minutes=60, timezone="America/New_York"
            ),
            cycle_starts_at=MONDAY,
            cycle_ends_at=MONDAY + timedelta(weeks=4),
        )

    def scheduled(self, *bookings: BookingRef) -> BookingsScheduled:
        """Booking's sessions of the slot: for the feeds, emailed to no one."""
        return BookingsScheduled(
            occurred_at=MONDAY,
            subscription_id=self.subscription_id,
            mentee_id=self.mentee.id,
            mentor_id=self.mentor.id,
            bookings=list(bookings),
            timezone="America/New_York",
        )

    def warned(self) -> MenteeWarned:
        return MenteeWarned(
            occurred_at=MONDAY,
            subscription_id=self.subscription_id,
            booking_id=uuid.uuid4(),
            mentee_id=self.mentee.id,
            mentor_id=self.mentor.id,
            consecutive_absences=1,
            missed_starts_at=datetime(2026, 3, 2, 23, 0, tzinfo=UTC),
        )

    def reprobated(self) -> MenteeReprobated:
        return MenteeReprobated(
            occurred_at=MONDAY,
            subscription_id=self.subscription_id,
            mentee_id=self.mentee.id,
            mentor_id=self.mentor.id,
            missed_booking_ids=[uuid.uuid4(), uuid.uuid4()],
            reprobated_at=MONDAY,
            missed_starts_at=[MONDAY, MONDAY + timedelta(weeks=1)],
        )

    def reactivated(self) -> MenteeReactivated:
        return MenteeReactivated(
            occurred_at=MONDAY,
            subscription_id=self.subscription_id,
            mentee_id=self.mentee.id,
            mentor_id=self.mentor.id,
            reactivated_by=self.mentor.id,
            reactivated_at=MONDAY + timedelta(weeks=1, hours=6),
        )


async def test_each_event_emails_the_right_people(
    settings: Settings, notifications: ServiceRuntime, smtp: RecordingSMTPServer
) -> None:
    m = Mentorship()
    await publish(settings, m.activated(), m.warned())
    [to_mentee] = await smtp.wait_for(m.mentee.email, schedules=False)
    [to_mentor] = await smtp.wait_for(m.mentor.email)
    assert to_mentee["To"] == m.mentee.email and to_mentee["Cc"] is None
    assert to_mentee["Subject"] == "You missed your mentorship session"
    assert to_mentor["Subject"] == "Maria Lima missed a session"
    text = to_mentee.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "Monday 2 March 2026 at 18:00 (America/New_York)" in text
    assert to_mentee.get_body(preferencelist=("html",)) is not None

    await publish(settings, m.reprobated())
    assert len(await smtp.wait_for(m.mentee.email, 2, schedules=False)) == 2
    assert "cancelled" in (await smtp.wait_for(m.mentor.email, 2))[1]["Subject"]

    await publish(settings, m.reactivated())
    mails = await smtp.wait_for(m.mentee.email, 3, schedules=False)
    assert mails[2]["Cc"] == m.mentor.email
    body = mails[2].get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "Monday 16 March 2026 at 18:00" in body and "Monday 23 March 2026 at 18:00" in body


async def test_the_mentor_is_emailed_times_in_the_zone_of_their_latest_activation(
    settings: Settings, notifications: ServiceRuntime, smtp: RecordingSMTPServer
) -> None:
    tag = uuid.uuid4().hex[:8]
    otto = Mentor(id=uuid.uuid4(), name="Otto Berg", email=f"otto.{tag}@example.com")
    older = Mentorship(otto.model_copy(update={"timezone": "Asia/Tokyo"}), MONDAY - timedelta(7))
    latest = Mentorship(otto.model_copy(update={"timezone": "America/Sao_Paulo"}))
    without = Mentorship(otto, MONDAY + timedelta(days=1))  # a later one that gave none
    await publish(settings, latest.activated(), older.activated(), without.activated())
    for m in (latest, older, without):  # their schedules: the contacts are stored
        await smtp.wait_for(m.mentee.email)
    await publish(settings, without.warned())
    [to_mentor] = await smtp.wait_for(otto.email)
    [to_mentee] = await smtp.wait_for(without.mentee.email, schedules=False)
    plain = ("plain",)
    mentor_text = to_mentor.get_body(preferencelist=plain).get_content()  # type: ignore[union-attr]
    mentee_text = to_mentee.get_body(preferencelist=plain).get_content()  # type: ignore[union-attr]
    assert "Monday 2 March 2026 at 20:00 (Sao Paulo time)" in mentor_text
    assert "Monday 2 March 2026 at 18:00 (America/New_York)" in mentee_text


async def test_a_redelivered_event_sends_nothing_new(
    settings: Settings, notifications: ServiceRuntime, smtp: RecordingSMTPServer
) -> None:
    m, other = Mentorship(), Mentorship()
    warned = m.warned()
    await publish(settings, m.activated(), other.activated(), warned, warned, warned)
    await smtp.wait_for(m.mentor.email)
    # The copy has the id of an applied event: a later warning on the same queue (one
    # consumer, taking it in order) shows it handled.
    later = other.warned()
    await publish(settings, warned, later)
    await _all_sent(notifications, warned, later)
    assert len(smtp.to(m.mentee.email, schedules=False)) == 1
    assert len(smtp.to(m.mentor.email)) == 1
    # The activation's schedule, to the mentee alone, once however often it comes.
    again = m.activated()
    await publish(settings, again)
    await _all_sent(notifications, again)
    schedules = [
        x for x in smtp.to(m.mentee.email) if x not in smtp.to(m.mentee.email, schedules=False)
    ]
    assert [x["Subject"] for x in schedules] == [f"Your mentorship sessions with {m.mentor.name}"]


async def test_an_event_before_the_contacts_is_sent_once_they_arrive(
    settings: Settings, notifications: ServiceRuntime, smtp: RecordingSMTPServer
) -> None:
    m = Mentorship()
    early = m.warned()
    await publish(settings, early)
    await _all_sent(notifications, early)
    assert smtp.to(m.mentee.email) == []
    await publish(settings, m.activated())
    assert len(await smtp.wait_for(m.mentee.email, schedules=False)) == 1


async def test_mail_is_delivered_after_the_smtp_server_was_down(
    settings: Settings, notifications: ServiceRuntime, smtp: RecordingSMTPServer
) -> None:
    m = Mentorship()
    warned = m.warned()
    smtp.stop()
    try:
        await publish(settings, m.activated(), warned)

        async def attempts() -> int:
            async with notifications.db.transaction() as tx:
                rows = (
                    await tx.execute(
                        select(emails.c.attempts).where(emails.c.recipient == m.mentee.email)
                    )
                ).all()
            return rows[0].attempts if rows else 0

        assert await eventually(attempts, lambda n: n >= 1) >= 1
    finally:
        smtp.start()
    await smtp.wait_for(m.mentee.email, within=20, schedules=False)
    await _all_sent(notifications, warned)  # nothing left to retry: the count is final
    assert len(smtp.to(m.mentee.email, schedules=False)) == 1


async def test_a_permanent_rejection_is_recorded_and_dead_lettered(
    settings: Settings, notifications: ServiceRuntime, smtp: RecordingSMTPServer
) -> None:
    m = Mentorship()
    warned = m.warned()
    smtp.fail_with = "550 5.1.1 mailbox unavailable"
    try:
        await publish(settings, m.activated(), warned)

        async def statuses() -> list[tuple[str, str | None]]:
            async with notifications.db.transaction() as tx:
                rows = (
                    await tx.execute(
                        select(emails.c.status, emails.c.last_error).where(
                            emails.c.event_id == warned.event_id
                        )
                    )
                ).all()
            return [(r.status, r.last_error) for r in rows]

        found = await eventually(
            statuses, lambda rows: len(rows) == 2 and all(s == "failed" for s, _ in rows)
        )
    finally:
        smtp.fail_with = None
    assert [s for s, _ in found] == ["failed", "failed"]
    assert all("550" in (e or "") for _, e in found)

    connection = await aio_pika.connect(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        dlq = await channel.get_queue(
            settings.naming.dead_letter_queue("notifications", "mentee.warned")
        )
        dead = []
        while (message := await dlq.get(fail=False)) is not None:
            await message.ack()
            dead.append(message)
    # The queue may also hold what an earlier test of the module had in flight when
    # the server began to refuse.
    assert str(warned.event_id) in {d.message_id for d in dead}
    assert all("550" in str(d.headers[REASON_HEADER]) for d in dead)


WRITTEN_AT = ("created_at", "next_attempt_at")


async def test_a_batch_of_lifecycle_events_queues_what_one_by_one_would(
    notifications: ServiceRuntime,
) -> None:
    """The batch handler against the per-message one, on the same input: several
    subscriptions with contacts (one whose mentee is their own mentor: one address),
    one without, several events for one subscription, in the kit's lock order."""
    known, solo, unknown = Mentorship(), Mentorship(), Mentorship()
    solo.mentor = solo.mentee.model_copy(update={"id": uuid.uuid4()})
    events: list[LifecycleEvent] = [
        known.warned(),
        unknown.warned(),
        known.reprobated(),
        solo.reactivated(),
        unknown.reprobated(),
        known.reactivated(),
        solo.warned(),
    ]
    events.sort(key=lambda e: str(e.subscription_id))  # any order: the kit keeps delivery order
    templates = Templates()

    async def applied(handle: Callable[[Tx], Awaitable[list[str]]]) -> tuple[object, ...]:
        async with notifications.db.engine.connect() as tx:
            await tx.begin()
            for m in (known, solo):
                await handlers.save_contacts(tx, m.activated(), templates)
            outcomes = await handle(tx)
            ids = [e.event_id for e in events]
            queued = await tx.execute(
                select(emails).where(emails.c.event_id.in_(ids)).order_by(emails.c.message_id)
            )
            kept = await tx.execute(
                select(waiting_events)
                .where(waiting_events.c.event_id.in_(ids))
                .order_by(waiting_events.c.event_id)
            )
            rows = (
                # When each was written (and so first due) differs from one run to the other.
                [{k: v for k, v in r._mapping.items() if k not in WRITTEN_AT} for r in queued],
                [dict(r._mapping) for r in kept],
            )
            await tx.rollback()  # the other way starts from the same state
        return outcomes, *rows

    async def one_by_one(tx: Tx) -> list[str]:
        return [await handlers.queue_emails(tx, e, templates) for e in events]

    async def as_a_batch(tx: Tx) -> list[str]:
        return await handlers.queue_all_emails(tx, events, templates)

    expected = await applied(one_by_one)
    outcomes, queued, kept = expected
    assert len(queued) == 2 + 2 + 1 + 1 + 1  # solo's warning: mentee = mentor, one email
    assert len(kept) == 2 and "waiting" in str(outcomes)
    assert await applied(as_a_batch) == expected


async def test_a_batch_of_activations_saves_and_releases_what_one_by_one_would(
    notifications: ServiceRuntime,
) -> None:
    """Contacts for two subscriptions, one of which had events waiting for them, one
    activated twice in the batch: the same contacts, emails and outcomes either way."""
    waited, plain = Mentorship(), Mentorship()
    early = [waited.warned(), waited.reprobated()]
    activations = [waited.activated(), plain.activated(), waited.activated()]
    templates = Templates()

    class Undone(Exception):
        """Raised to roll the transaction back once its rows have been read."""

    async def applied(handle: Callable[[Tx], Awaitable[list[str]]]) -> tuple[object, ...]:
        try:
            async with notifications.db.transaction() as tx:
                await handlers.queue_all_emails(tx, early, templates)  # they wait for contacts
                outcomes = await handle(tx)
                queued = await tx.execute(
                    select(emails.c.message_id, emails.c.recipient, emails.c.subject)
                    .where(emails.c.event_id.in_([e.event_id for e in early]))
                    .order_by(emails.c.message_id)
                )
                saved = await tx.execute(
                    select(contacts)
                    .where(
                        contacts.c.subscription_id.in_(
                            [waited.subscription_id, plain.subscription_id]
                        )
                    )
                    .order_by(contacts.c.subscription_id)
                )
                left = await tx.execute(
                    select(waiting_events.c.event_id).where(
                        waiting_events.c.subscription_id == waited.subscription_id
                    )
                )
                rows = ([tuple(r) for r in queued], [tuple(r) for r in saved], list(left))
                raise Undone
        except Undone:
            pass
        return outcomes, *rows

    async def one_by_one(tx: Tx) -> list[str]:
        return [await handlers.save_contacts(tx, a, templates) for a in activations]

    async def as_a_batch(tx: Tx) -> list[str]:
        return await handlers.save_all_contacts(tx, activations, templates)

    expected = await applied(one_by_one)
    outcomes, queued, saved, left = expected
    assert outcomes == [
        "contacts saved; queued 4 waiting emails",
        "contacts saved",
        "contacts saved",
    ]
    assert len(queued) == 4 and len(saved) == 2 and left == []
    assert await applied(as_a_batch) == expected


async def test_a_feed_keeps_out_a_session_cancelled_before_it_was_heard_of_as_booked(
    settings: Settings, notifications: ServiceRuntime
) -> None:
    """The feed is a function of the facts, whatever order they arrive in."""
    m = Mentorship()
    early, kept = (
        BookingRef(
            booking_id=uuid.uuid4(),
            starts_at=MONDAY + timedelta(weeks=w),
            ends_at=MONDAY + timedelta(weeks=w, hours=1),
        )
        for w in (1, 2)
    )
    cancellation = BookingsCancelled(
        occurred_at=MONDAY,
        subscription_id=m.subscription_id,
        booking_ids=[early.booking_id],
        reason="reprobation",
    )
    schedule = m.scheduled(early, kept)

    async def feed() -> str:
        async with notifications.db.transaction() as tx:
            opened = await handlers.open_calendar_feed(
                tx, OpenCalendarFeed(person_id=m.mentee.id, role="mentee"), Templates()
            )
            assert opened.token is not None
            got = await handlers.get_calendar_feed(
                tx, GetCalendarFeed(token=opened.token, now=MONDAY), Templates()
            )
            return got.ics or ""

    await publish(settings, m.activated(), cancellation)
    await eventually(
        lambda: _count(notifications, sessions.c.booking_id == early.booking_id),
        lambda n: n == 1,
    )
    await publish(settings, schedule)
    ics = await eventually(feed, lambda text: str(kept.booking_id) in text)
    assert str(early.booking_id) not in ics


async def test_a_makeup_emails_its_invitation_once_and_slot_bookings_none(
    settings: Settings, notifications: ServiceRuntime, smtp: RecordingSMTPServer
) -> None:
    """The make-up's bookings.scheduled delivered twice and replayed under another event
    id: one email to the mentee, mentor in Cc, with its invitation; the slot's none."""
    m = Mentorship()
    missed, later = (
        BookingRef(
            booking_id=uuid.uuid4(),
            starts_at=MONDAY + timedelta(weeks=w, hours=5),
            ends_at=MONDAY + timedelta(weeks=w, hours=6),
        )
        for w in (0, 1)
    )
    makeup_at = MONDAY + timedelta(days=3, hours=2)  # Thursday 15:00 in New York
    slot = m.scheduled(missed, later)
    makeup = slot.model_copy(
        update={
            "event_id": uuid.uuid4(),
            "kind": "makeup",
            "makeup_for": missed.booking_id,
            "bookings": [
                BookingRef(
                    booking_id=uuid.uuid4(),
                    starts_at=makeup_at,
                    ends_at=makeup_at + timedelta(minutes=45),
                )
            ],
        }
    )
    replayed = makeup.model_copy(update={"event_id": uuid.uuid4()})
    await publish(settings, m.activated(), slot)
    await _all_sent(notifications, slot)
    await publish(settings, makeup, makeup, replayed)
    [email] = await smtp.wait_for(m.mentee.email, schedules=False)
    await _all_sent(notifications, makeup, replayed)
    assert smtp.to(m.mentee.email, schedules=False) == [email]
    assert smtp.to(m.mentor.email) == [email]
    assert (email["To"], email["Cc"]) == (m.mentee.email, m.mentor.email)
    assert email["Subject"] == (
        "Make-up session booked with Otto Berg: Thursday 5 March 2026 at 15:00 (America/New_York)"
    )
    assert plain_text(email).startswith(
        "Hello Maria Lima, Otto Berg booked your make-up session for the session they missed "
        "on Monday 2 March 2026. It is on Thursday 5 March 2026 at 15:00 (America/New_York) "
        "and lasts 45 minutes. The invitation attached adds it to your calendar."
    )
    [part] = [p for p in email.walk() if p.get_content_type() == "text/calendar"]
    assert (part.get_filename(), part.get_param("method")) == ("invite.ics", "REQUEST")
    [vevent] = Calendar.from_ical(part.get_content()).walk("VEVENT")
    assert str(vevent["uid"]) == f"{makeup.bookings[0].booking_id}@mentorship-attendance"
    assert vevent.decoded("dtstart") == makeup_at
    async with notifications.db.transaction() as tx:
        slot_emails = await tx.scalar(
            select(func.count()).where(emails.c.event_id == slot.event_id)
        )
    assert slot_emails == 0
    # Its session was invited to the calendar: booking's cancellation withdraws it.
    await publish(
        settings,
        BookingsCancelled(
            occurred_at=makeup_at,
            subscription_id=m.subscription_id,
            booking_ids=[makeup.bookings[0].booking_id, later.booking_id],
            reason="subscription_ended",
        ),
    )
    [_, withdrawal] = await smtp.wait_for(m.mentee.email, 2, schedules=False)
    [part] = [p for p in withdrawal.walk() if p.get_content_type() == "text/calendar"]
    assert part.get_param("method") == "CANCEL"
    [vevent] = Calendar.from_ical(part.get_content()).walk("VEVENT")  # `later`: never invited
    assert str(vevent["uid"]) == f"{makeup.bookings[0].booking_id}@mentorship-attendance"


async def _count(notifications: ServiceRuntime, where: ColumnElement[bool]) -> int:
    async with notifications.db.transaction() as tx:
        return int(await tx.scalar(select(func.count()).select_from(sessions).where(where)) or 0)


async def _all_sent(notifications: ServiceRuntime, *events: Event) -> None:
    """Return once `events` are applied and none of the emails they queued waits to be
    sent: all have reached the SMTP server, which records a message before accepting it."""
    await applied(notifications.db, events)
    ids = [e.event_id for e in events]

    async def queued() -> int:
        async with notifications.db.transaction() as tx:
            waiting = emails.c.event_id.in_(ids) & (emails.c.status == "queued")
            return int(await tx.scalar(select(func.count()).where(waiting)) or 0)

    assert await eventually(queued, lambda n: n == 0) == 0

"""Fair marks end to end: late joins, the mentor's statuses and reasons, neutral
sessions, consequences that follow the session history, every mark reaching booking;
every service its own process, the real broker, database and an SMTP server."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from contracts import (
    AttendanceMarked,
    BookingCancelled,
    MenteeReprobated,
    MenteeWarned,
    SubscriptionActivated,
    SweepTick,
)
from services.kit.settings import Settings
from tests.e2e.test_lifecycle import LIFECYCLE_KEYS, activate, mentee_bookings, people, subscriber
from tests.support.listening import listening, publish
from tests.support.settling import service_settled
from tests.support.smtp import RecordingSMTPServer
from tests.support.system import System
from tests.support.waiting import eventually
from tests.support.world import User, user, weekly_subscription

pytestmark = pytest.mark.e2e


async def mark(
    gateway: httpx.AsyncClient, mentor_headers: dict[str, str], booking_id: str, **body: Any
) -> httpx.Response:
    return await gateway.post(
        f"/api/mentor/bookings/{booking_id}/attendance", json=body, headers=mentor_headers
    )


def by_start(bookings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(bookings, key=lambda b: b["starts_at"])


async def test_a_join_after_late_after_minutes_marks_late(
    settings: Settings, system: System, gateway: httpx.AsyncClient
) -> None:
    mentee, mentor = people(settings)
    now = datetime.now(UTC)
    subscription = weekly_subscription(
        mentee,
        mentor,
        now=now,
        session_started_ago=timedelta(minutes=12),  # LATE_AFTER_MINUTES is 10
        past_sessions=1,
        future_sessions=1,
    )
    current, _ = by_start(await activate(settings, gateway, subscription, mentee, 2))
    async with listening(settings, LIFECYCLE_KEYS) as bus:
        response = await gateway.post(
            f"/api/bookings/{current['booking_id']}/join", headers=mentee.headers
        )
        assert response.status_code == 202, response.text
        [marked] = await bus.wait_for(AttendanceMarked, booking_id=UUID(current["booking_id"]))
    assert (marked.status, marked.attended, marked.marked_by) == ("late", True, "system")

    [booking, _] = by_start(
        await eventually(
            lambda: mentee_bookings(gateway, mentee),
            lambda bs: any(b["mark"] is not None for b in bs),
        )
    )
    assert (booking["status"], booking["attended"], booking["mark"]) == ("attended", True, "late")
    detail = await subscriber(gateway, mentor, subscription)
    [session, _] = by_start(detail["bookings"])
    assert session["status"] == "late"
    assert detail["consecutive_absences"] == 0  # late resets the streak by default


async def test_absent_excused_absent_reprobates_the_excused_session_is_neutral(
    settings: Settings, system: System, gateway: httpx.AsyncClient, smtp: RecordingSMTPServer
) -> None:
    mentee, mentor = people(settings)
    now = datetime.now(UTC)
    subscription = weekly_subscription(
        mentee,
        mentor,
        now=now,
        session_started_ago=timedelta(hours=3),
        past_sessions=3,
        future_sessions=1,
    )
    first, excused, last, _ = by_start(await activate(settings, gateway, subscription, mentee, 4))
    sid = subscription.subscription_id
    async with listening(settings, LIFECYCLE_KEYS) as bus:
        response = await mark(
            gateway, mentor.headers, excused["booking_id"], status="excused", reason="ill"
        )
        assert response.status_code == 200, response.text
        [marked] = await bus.wait_for(AttendanceMarked, booking_id=UUID(excused["booking_id"]))
        assert (marked.status, marked.reason) == ("excused", "ill")
        await publish(settings, SweepTick(occurred_at=now, tick_at=now))
        [reprobated] = await bus.wait_for(MenteeReprobated, subscription_id=sid)
    assert reprobated.missed_booking_ids == [UUID(first["booking_id"]), UUID(last["booking_id"])]

    # Every mark reaches booking, the swept absences included. Booking's copy of the
    # marks is eventual (it gathers them for a moment): it may have swept the excused
    # session as absent first, which the mentor's mark (revisioned) then replaces.
    expected = [
        ("unattended", False, "absent"),
        ("unattended", False, "excused"),
        ("unattended", False, "absent"),
        ("cancelled", None, None),
    ]

    async def marks() -> list[tuple[str, bool | None, str | None]]:
        bookings = by_start(await mentee_bookings(gateway, mentee))
        return [(b["status"], b["attended"], b["mark"]) for b in bookings]

    assert await eventually(marks, lambda m: m == expected) == expected
    detail = await subscriber(gateway, mentor, subscription)
    assert (detail["is_reprobated"], detail["consecutive_absences"], detail["absences"]) == (
        True,
        2,
        2,
    )
    for person in (mentee, mentor):
        emails = await smtp.wait_for(person.person.email, 2, schedules=False)
        subjects = [m["Subject"] for m in emails]
        assert len(subjects) == 2, subjects  # the warning, then the reprobation


async def test_absent_present_absent_found_out_of_order_warns_twice_and_does_not_reprobate(
    settings: Settings, system: System, gateway: httpx.AsyncClient, smtp: RecordingSMTPServer
) -> None:
    """The mentor marks the second session present before the sweep finds the first
    and the third: the consequences are those of session order."""
    mentee, mentor = people(settings)
    now = datetime.now(UTC)
    subscription = weekly_subscription(
        mentee,
        mentor,
        now=now,
        session_started_ago=timedelta(hours=3),
        past_sessions=3,
        future_sessions=1,
    )
    first, present, last, _ = by_start(await activate(settings, gateway, subscription, mentee, 4))
    sid = subscription.subscription_id
    async with listening(settings, LIFECYCLE_KEYS) as bus:
        response = await mark(gateway, mentor.headers, present["booking_id"], status="present")
        assert response.status_code == 200, response.text
        await bus.wait_for(AttendanceMarked, booking_id=UUID(present["booking_id"]))
        await publish(settings, SweepTick(occurred_at=now, tick_at=now))
        warnings = await bus.wait_for(MenteeWarned, 2, subscription_id=sid)
        # Both absences applied (each warned): all they caused is heard once attendance
        # has nothing left to publish.
        await service_settled(settings, "attendance", bus)
        assert bus.of(MenteeReprobated, subscription_id=sid) == []
    assert sorted((w.missed_starts_at, w.booking_id) for w in warnings) == [
        (datetime.fromisoformat(first["starts_at"]), UUID(first["booking_id"])),
        (datetime.fromisoformat(last["starts_at"]), UUID(last["booking_id"])),
    ]
    detail = await subscriber(gateway, mentor, subscription)
    assert (detail["is_reprobated"], detail["consecutive_absences"], detail["absences"]) == (
        False,
        1,
        2,
    )
    emails = await smtp.wait_for(mentee.person.email, 2, schedules=False)
    assert len(emails) == 2, [m["Subject"] for m in emails]


@pytest.mark.parametrize(
    ("body", "status_code", "says"),
    [
        ({"status": "cancelled_late"}, 422, "status"),
        ({"status": "sleeping"}, 422, "status"),
        ({}, 422, "give the mark"),
        ({"status": "present", "attended": False}, 422, "contradicts"),
        ({"status": "excused", "reason": "line one\nline two"}, 422, "one line"),
        ({"status": "excused", "reason": "x" * 501}, 422, "500"),
    ],
    ids=["cancellation", "unknown", "empty", "contradiction", "two-line-reason", "long-reason"],
)
async def test_a_mark_a_mentor_may_not_give_is_a_clear_422(
    settings: Settings,
    system: System,
    gateway: httpx.AsyncClient,
    body: dict[str, Any],
    status_code: int,
    says: str,
) -> None:
    mentee, mentor = people(settings)
    subscription = weekly_subscription(
        mentee,
        mentor,
        now=datetime.now(UTC),
        session_started_ago=timedelta(hours=3),
        past_sessions=1,
        future_sessions=0,
    )
    [booking] = await activate(settings, gateway, subscription, mentee, 1)
    response = await mark(gateway, mentor.headers, booking["booking_id"], **body)
    assert response.status_code == status_code, response.text
    assert says in response.text


async def test_another_mentor_may_not_mark_the_session(
    settings: Settings, system: System, gateway: httpx.AsyncClient
) -> None:
    mentee, mentor = people(settings)
    stranger = user(settings.jwt_secret, "mentor", "Ines Other")
    subscription = weekly_subscription(
        mentee,
        mentor,
        now=datetime.now(UTC),
        session_started_ago=timedelta(hours=3),
        past_sessions=1,
        future_sessions=0,
    )
    [booking] = await activate(settings, gateway, subscription, mentee, 1)
    response = await mark(gateway, stranger.headers, booking["booking_id"], status="excused")
    assert response.status_code == 403, response.text
    assert response.json()["detail"] == "this booking is not one of your mentees'"


async def test_the_history_after_a_correction_and_the_csv_export(
    settings: Settings, system: System, gateway: httpx.AsyncClient
) -> None:
    mentee, mentor = people(settings)
    stranger = user(settings.jwt_secret, "mentor", "Ines Other")
    now = datetime.now(UTC)
    subscription = weekly_subscription(
        mentee,
        mentor,
        now=now,
        session_started_ago=timedelta(hours=3),
        past_sessions=1,
        future_sessions=1,
    )
    missed, _ = by_start(await activate(settings, gateway, subscription, mentee, 2))
    sid = subscription.subscription_id
    async with listening(settings, LIFECYCLE_KEYS) as bus:
        await publish(settings, SweepTick(occurred_at=now, tick_at=now))
        await bus.wait_for(MenteeWarned, subscription_id=sid)
    corrected = await mark(
        gateway, mentor.headers, missed["booking_id"], status="excused", reason="ill"
    )
    assert corrected.status_code == 200, corrected.text

    path = f"/api/mentor/subscribers/{sid}/history"
    response = await gateway.get(path, headers=mentor.headers)
    assert response.status_code == 200, response.text
    lines = [
        (h["kind"], h["old_status"], h["new_status"], h["actor"], h["actor_id"], h["reason"])
        for h in response.json()["history"]
    ]
    assert lines == [
        ("mark", None, "absent", "system", None, None),
        ("warning", None, None, "system", None, "1 absence in a row"),
        ("mark", "absent", "excused", "mentor", str(mentor.person.id), "ill"),
    ]
    assert (await gateway.get(path, headers=stranger.headers)).status_code == 403
    unknown = await gateway.get(
        f"/api/mentor/subscribers/{UUID(int=1)}/history", headers=mentor.headers
    )
    assert unknown.status_code == 404

    today = now.date()
    export = await gateway.get(
        "/api/mentor/attendance.csv",
        params={"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat()},
        headers=mentor.headers,
    )
    assert export.status_code == 200, export.text
    assert export.headers["content-type"].startswith("text/csv")
    header, *rows = csv.reader(io.StringIO(export.text))
    assert header[:5] == ["mentee", "mentee_email", "session_starts_at", "timezone", "status"]
    assert [(r[0], r[4], r[5], r[7]) for r in rows] == [
        ("Maria Mentee", "excused", "mentor", "ill")
    ]
    reversed_ = await gateway.get(
        "/api/mentor/attendance.csv",
        params={"from": today.isoformat(), "to": (today - timedelta(days=1)).isoformat()},
        headers=mentor.headers,
    )
    assert reversed_.status_code == 422
    end_of_time = await gateway.get(
        "/api/mentor/attendance.csv",
        params={"from": "9999-12-31", "to": "9999-12-31"},
        headers=mentor.headers,
    )
    assert end_of_time.status_code == 200 and len(end_of_time.text.splitlines()) == 1
    assert reversed_.json()["detail"] == '"to" is before "from"'


async def test_a_mentee_cancels_in_time_and_late_and_the_mentor_is_told(
    settings: Settings, system: System, gateway: httpx.AsyncClient, smtp: RecordingSMTPServer
) -> None:
    mentee, mentor = people(settings)
    other = user(settings.jwt_secret, "mentee", "Olga Other")
    now = datetime.now(UTC)
    subscription = weekly_subscription(
        mentee,
        mentor,
        now=now,
        session_started_ago=timedelta(hours=-2),  # the first session starts in 2 hours
        past_sessions=1,
        future_sessions=2,
    )
    soon, next_week, last = by_start(await activate(settings, gateway, subscription, mentee, 3))
    others = weekly_subscription(
        other,
        mentor,
        now=now,
        session_started_ago=timedelta(hours=3),
        past_sessions=1,
        future_sessions=0,
    )
    [started] = await activate(settings, gateway, others, other, 1)
    sid = subscription.subscription_id

    def cancel(booking: dict[str, Any], who: User = mentee) -> Awaitable[httpx.Response]:
        return gateway.post(f"/api/bookings/{booking['booking_id']}/cancel", headers=who.headers)

    async with listening(settings, [*LIFECYCLE_KEYS, "booking.cancelled"]) as bus:
        late = await cancel(soon)  # CANCEL_NOTICE_HOURS is 24
        in_time = await cancel(next_week)
        assert (late.status_code, late.json()["status"]) == (200, "cancelled_late"), late.text
        assert (in_time.status_code, in_time.json()["status"]) == (200, "cancelled_in_time")
        cancelled = await bus.wait_for(BookingCancelled, 2, subscription_id=sid)
        assert sorted(c.status for c in cancelled) == ["cancelled_in_time", "cancelled_late"]
        # A late cancellation counts as an absence: the first one warns.
        [warned] = await bus.wait_for(MenteeWarned, subscription_id=sid)
        assert warned.booking_id == UUID(soon["booking_id"])

    refusals = [
        (await cancel(next_week), 409, "the booking is already cancelled"),
        (await cancel(started, other), 409, "the session has already started"),
        (await cancel(last, other), 403, "this booking is not yours"),
        (await cancel(last, mentor), 403, None),
        (await cancel({"booking_id": UUID(int=7)}), 404, "no such booking"),
    ]
    for response, status_code, says in refusals:
        assert response.status_code == status_code, response.text
        assert says is None or response.json()["detail"] == says

    # The mentor: both cancellations (the mentee in Cc) and the warning.
    emails = await smtp.wait_for(mentor.person.email, 3)
    notices = [m for m in emails if "cancelled the session" in m["Subject"]]
    assert len(notices) == 2 and all(m["Cc"] == mentee.person.email for m in notices)
    bodies = sorted(m.get_body(("plain",)).get_content() for m in notices)  # type: ignore[union-attr]
    assert sum("does not count as an absence" in b for b in bodies) == 1
    assert sum("it counts as an absence" in b for b in bodies) == 1
    detail = await eventually(
        lambda: subscriber(gateway, mentor, subscription),
        lambda d: sum(b["cancelled"] for b in d["bookings"]) == 2,
    )
    assert [b["status"] for b in by_start(detail["bookings"])] == [
        "cancelled_late",
        "cancelled_in_time",
        None,
    ]
    assert (detail["consecutive_absences"], detail["absences"], detail["upcoming_bookings"]) == (
        1,
        1,
        1,
    )
    expected = [
        ("cancelled", "cancelled_late"),
        ("cancelled", "cancelled_in_time"),
        ("scheduled", None),
    ]

    async def marks() -> list[tuple[str, str | None]]:  # booking's copy is eventual
        return [(b["status"], b["mark"]) for b in by_start(await mentee_bookings(gateway, mentee))]

    assert await eventually(marks, lambda m: m == expected) == expected


async def one_session(
    settings: Settings, gateway: httpx.AsyncClient, started_ago: timedelta
) -> tuple[User, User, SubscriptionActivated, dict[str, Any]]:
    """A new mentee and mentor, and a subscription of one session, which started
    `started_ago` (negative: it starts later), booked and known to attendance."""
    mentee, mentor = people(settings)
    subscription = weekly_subscription(
        mentee,
        mentor,
        now=datetime.now(UTC),
        session_started_ago=started_ago,
        past_sessions=1,
        future_sessions=0,
    )
    [booking] = await activate(settings, gateway, subscription, mentee, 1)
    return mentee, mentor, subscription, booking


@pytest.mark.parametrize("status", ["present", "late", "absent", "mentor_no_show"])
async def test_what_happened_in_a_session_cannot_be_marked_before_it_starts(
    settings: Settings, system: System, gateway: httpx.AsyncClient, status: str
) -> None:
    _, mentor, subscription, booking = await one_session(
        settings, gateway, started_ago=-timedelta(days=2)
    )
    response = await mark(gateway, mentor.headers, booking["booking_id"], status=status)
    assert response.status_code == 409, response.text
    detail = response.json()["detail"]
    assert "has not started yet" in detail and status.replace("_", " ") in detail
    after = await subscriber(gateway, mentor, subscription)
    assert after["bookings"][0]["status"] is None
    assert after["last_attended_at"] is None


async def test_a_mentor_excuses_a_session_ahead_then_takes_the_mark_back(
    settings: Settings, system: System, gateway: httpx.AsyncClient
) -> None:
    mentee, mentor, subscription, booking = await one_session(
        settings, gateway, started_ago=-timedelta(days=2)
    )
    booking_id = booking["booking_id"]
    excused = await mark(gateway, mentor.headers, booking_id, status="excused", reason="travel")
    assert excused.status_code == 200, excused.text
    assert excused.json()["bookings"][0]["status"] == "excused"
    # Booking's copy follows: the mentee's list shows it excused, then unmarked again.
    await eventually(
        lambda: mentee_bookings(gateway, mentee), lambda found: found[0]["mark"] == "excused"
    )
    cleared = await gateway.delete(
        f"/api/mentor/bookings/{booking_id}/attendance", headers=mentor.headers
    )
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["bookings"][0]["status"] is None
    [unmarked] = await eventually(
        lambda: mentee_bookings(gateway, mentee), lambda found: found[0]["mark"] is None
    )
    assert (unmarked["status"], unmarked["attended"]) == ("scheduled", None)
    history = await gateway.get(
        f"/api/mentor/subscribers/{subscription.subscription_id}/history",
        headers=mentor.headers,
    )
    assert [(h["old_status"], h["new_status"]) for h in history.json()["history"]] == [
        (None, "excused"),
        ("excused", None),
    ]
    # Nothing left to take back; another mentor may not try.
    again = await gateway.delete(
        f"/api/mentor/bookings/{booking_id}/attendance", headers=mentor.headers
    )
    assert again.status_code == 200, again.text
    stranger = user(settings.jwt_secret, "mentor", "Ines Other")
    refused = await gateway.delete(
        f"/api/mentor/bookings/{booking_id}/attendance", headers=stranger.headers
    )
    assert refused.status_code == 403, refused.text


async def test_a_started_session_keeps_its_mark_it_is_corrected_not_cleared(
    settings: Settings, system: System, gateway: httpx.AsyncClient
) -> None:
    _, mentor, _, booking = await one_session(settings, gateway, started_ago=timedelta(hours=3))
    marked = await mark(gateway, mentor.headers, booking["booking_id"], status="present")
    assert marked.status_code == 200, marked.text
    refused = await gateway.delete(
        f"/api/mentor/bookings/{booking['booking_id']}/attendance", headers=mentor.headers
    )
    assert refused.status_code == 409, refused.text
    assert "has started" in refused.json()["detail"]

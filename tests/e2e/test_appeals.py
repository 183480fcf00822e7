"""Appeals end to end: a mentee contests an absence through the gateway; the mentor,
emailed with a link, accepts it (the session becomes excused and a reprobation it was
needed for is lifted, with the usual email) or rejects it with a reason; both sides are
emailed. What cannot be appealed gets a clear 4xx."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from contracts import AppealAccepted, AppealFiled, AppealRejected, MenteeReactivated, MenteeWarned
from services.kit.settings import Settings
from tests.e2e.conftest import tick
from tests.e2e.test_fair_marks import by_start, mark
from tests.e2e.test_lifecycle import LIFECYCLE_KEYS, activate, mentee_bookings, people, subscriber
from tests.e2e.test_reprobation_ends import booked_again_email, reprobated
from tests.support.listening import listening
from tests.support.smtp import RecordingSMTPServer, plain_text
from tests.support.waiting import eventually
from tests.support.world import User, user, weekly_subscription

pytestmark = pytest.mark.e2e
KEYS = [*LIFECYCLE_KEYS, "appeal.*"]


async def appeal(
    gateway: httpx.AsyncClient, mentee: User, booking_id: object, reason: str = "I was in hospital"
) -> httpx.Response:
    return await gateway.post(
        f"/api/bookings/{booking_id}/appeal", json={"reason": reason}, headers=mentee.headers
    )


async def decide(
    gateway: httpx.AsyncClient, mentor: User, appeal_id: object, verb: str, reason: str = ""
) -> httpx.Response:
    return await gateway.post(
        f"/api/mentor/appeals/{appeal_id}/{verb}",
        json={"reason": reason} if reason else {},
        headers=mentor.headers,
    )


async def emails_about(
    smtp: RecordingSMTPServer, person: User, subject_part: str, count: int = 1
) -> list[EmailMessage]:
    async def found() -> list[EmailMessage]:
        return [m for m in smtp.to(person.person.email) if subject_part in m["Subject"]]

    return await eventually(found, lambda emails: len(emails) >= count, within=15)


async def test_an_appeal_accepted_after_the_reprobation_reactivates_with_emails(
    settings: Settings, gateway: httpx.AsyncClient, smtp: RecordingSMTPServer
) -> None:
    mentee, mentor = people(settings)
    now = datetime.now(UTC)
    subscription, reprobation = await reprobated(settings, gateway, mentee, mentor, now)
    sid = subscription.subscription_id
    bookings = by_start(await mentee_bookings(gateway, mentee))
    missed, upcoming = bookings[1], bookings[2]
    assert missed["mark"] == "absent" and upcoming["status"] == "cancelled"

    async with listening(settings, KEYS) as bus:
        filed = await appeal(gateway, mentee, missed["booking_id"])
        assert filed.status_code == 201, filed.text
        body = filed.json()
        assert (body["status"], body["contested_status"], body["reason"]) == (
            "open",
            "absent",
            "I was in hospital",
        )
        [event] = await bus.wait_for(AppealFiled, subscription_id=sid)
        assert str(event.appeal_id) == body["appeal_id"]

    # One open appeal per booking; no appeal of what is no absence, nor of another's.
    again = await appeal(gateway, mentee, missed["booking_id"])
    assert again.status_code == 409 and "already has an open appeal" in again.text
    unmarked = await appeal(gateway, mentee, upcoming["booking_id"])
    assert unmarked.status_code == 409 and "only an absence can be appealed" in unmarked.text
    stranger = user(settings.jwt_secret, "mentee", "Someone Else")
    theirs = await appeal(gateway, stranger, missed["booking_id"])
    assert (theirs.status_code, theirs.json()["detail"]) == (403, "this booking is not yours")
    unknown = await appeal(gateway, mentee, "00000000-0000-4000-8000-000000000000")
    assert unknown.status_code == 404
    blank = await appeal(gateway, mentee, missed["booking_id"], reason="  ")
    assert blank.status_code == 422

    # The mentor is asked to decide, with a link; the mentee gets a receipt.
    [ask] = await emails_about(smtp, mentor, "appeals the absence of")
    assert "I was in hospital" in plain_text(ask)
    assert f"/dashboard/mentorship/subscribers/{sid}" in plain_text(ask)
    await emails_about(smtp, mentee, "has been sent to Otto Mentor")
    detail = await subscriber(gateway, mentor, subscription)
    assert detail["open_appeals"] == 1 and detail["appeals"][0]["status"] == "open"
    listed = await gateway.get("/api/mentor/subscribers", headers=mentor.headers)
    [row] = [s for s in listed.json()["subscribers"] if s["subscription_id"] == str(sid)]
    assert row["open_appeals"] == 1

    async with listening(settings, KEYS) as bus:
        accepted = await decide(gateway, mentor, body["appeal_id"], "accept", "the hospital note")
        assert accepted.status_code == 200, accepted.text
        [decision] = await bus.wait_for(AppealAccepted, subscription_id=sid)
        [lifted] = await bus.wait_for(MenteeReactivated, subscription_id=sid)
    assert decision.reprobation_lifted and decision.reason == "the hospital note"
    assert lifted.lifted_by == "mentor" and lifted.reactivated_at > reprobation.reprobated_at
    after = accepted.json()
    assert after["is_reprobated"] is False and after["open_appeals"] == 0
    assert after["appeals"][0]["status"] == "accepted"
    [excused] = [b for b in after["bookings"] if b["booking_id"] == missed["booking_id"]]
    assert (excused["status"], excused["marked_by"]) == ("excused", "mentor")

    # The sessions left in the cycle are booked again, and the mentee is told both.
    detail = await eventually(
        lambda: subscriber(gateway, mentor, subscription), lambda d: d["upcoming_bookings"] == 2
    )
    assert detail["consecutive_absences"] == 0
    [verdict] = await emails_about(smtp, mentee, "Your appeal was accepted")
    assert "no longer counts against you" in plain_text(verdict)
    assert "reprobation is lifted" in plain_text(verdict)
    await booked_again_email(smtp, mentee)
    await emails_about(smtp, mentor, "You accepted the appeal of Maria Mentee")

    twice = await decide(gateway, mentor, body["appeal_id"], "reject", "changed my mind")
    assert twice.status_code == 409 and "already accepted" in twice.text
    history = await gateway.get(f"/api/mentor/subscribers/{sid}/history", headers=mentor.headers)
    kinds = [(h["kind"], h["new_status"]) for h in history.json()["history"]]
    assert ("appeal", "open") in kinds and ("appeal_decision", "accepted") in kinds
    assert kinds.index(("appeal_decision", "accepted")) < kinds.index(("reactivation", "active"))


async def test_an_appeal_rejected_leaves_the_absence_standing_and_says_why(
    settings: Settings, gateway: httpx.AsyncClient, smtp: RecordingSMTPServer
) -> None:
    mentee, mentor = people(settings)
    now = datetime.now(UTC)
    subscription = weekly_subscription(
        mentee,
        mentor,
        now=now,
        session_started_ago=timedelta(hours=3),
        past_sessions=1,
        future_sessions=2,
    )
    sid = subscription.subscription_id
    await activate(settings, gateway, subscription, mentee, expected_bookings=3)
    async with listening(settings, KEYS) as bus:
        await tick(settings, now)
        await bus.wait_for(MenteeWarned, subscription_id=sid)
    [missed, *_] = by_start(await mentee_bookings(gateway, mentee))
    filed = await appeal(gateway, mentee, missed["booking_id"], "my train was cancelled")
    assert filed.status_code == 201, filed.text
    appeal_id = filed.json()["appeal_id"]
    other_mentor = user(settings.jwt_secret, "mentor", "Not Theirs")
    foreign = await decide(gateway, other_mentor, appeal_id, "reject", "no")
    assert foreign.status_code == 403

    unexplained = await decide(gateway, mentor, appeal_id, "reject")
    assert unexplained.status_code == 422
    async with listening(settings, KEYS) as bus:
        rejected = await decide(gateway, mentor, appeal_id, "reject", "the trains ran that day")
        assert rejected.status_code == 200, rejected.text
        [event] = await bus.wait_for(AppealRejected, subscription_id=sid)
    assert event.reason == "the trains ran that day"
    after: dict[str, Any] = rejected.json()
    assert after["consecutive_absences"] == 1 and after["open_appeals"] == 0
    assert after["appeals"][0]["decision_reason"] == "the trains ran that day"
    [standing] = [b for b in after["bookings"] if b["booking_id"] == missed["booking_id"]]
    assert standing["status"] == "absent"

    [verdict] = await emails_about(smtp, mentee, "was rejected")
    text = plain_text(verdict)
    assert "the trains ran that day" in text and "stands" in text
    await emails_about(smtp, mentor, "You rejected the appeal of Maria Mentee")
    again = await appeal(gateway, mentee, missed["booking_id"])
    assert again.status_code == 409 and "already rejected" in again.text


async def test_a_present_mark_and_an_absence_past_appeal_days_cannot_be_appealed(
    settings: Settings, gateway: httpx.AsyncClient
) -> None:
    mentee, mentor = people(settings)
    now = datetime.now(UTC)
    # Two sessions, the latest ten days ago; the sweep found the absence nine days ago.
    subscription = weekly_subscription(
        mentee,
        mentor,
        now=now,
        session_started_ago=timedelta(days=10),
        past_sessions=2,
        future_sessions=1,
    )
    sid = subscription.subscription_id
    bookings = by_start(await activate(settings, gateway, subscription, mentee, 3))
    attended, missed = bookings[0], bookings[1]
    marked = await eventually(
        lambda: mark(gateway, mentor.headers, str(attended["booking_id"]), status="present"),
        lambda response: response.status_code == 200,
    )
    assert marked.status_code == 200
    async with listening(settings, KEYS) as bus:
        await tick(settings, now - timedelta(days=9))
        await bus.wait_for(MenteeWarned, subscription_id=sid)

    present = await appeal(gateway, mentee, attended["booking_id"])
    assert present.status_code == 409
    assert present.json()["detail"] == (
        "only an absence can be appealed; this session is marked present"
    )
    late = await appeal(gateway, mentee, missed["booking_id"])
    assert late.status_code == 409
    assert "the time to appeal this absence ended on" in late.json()["detail"]
    assert "7 days after it was marked" in late.json()["detail"]

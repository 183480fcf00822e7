"""The JSON API: mentees' bookings and joins, mentors' reads and commands, the admin sweep.

Handlers are thin: they check who calls, ask the owning service or publish an
event, and shape the answer. Ownership is decided by the owner of the data.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, TypeVar
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from contracts import SessionJoined, SweepTick
from contracts.messages import (
    REASON_MAX_LENGTH,
    CancellationStatus,
    MentorMarkStatus,
    Reason,
    contradiction,
)
from contracts.rpc import (
    AppealAbsence,
    AppealReply,
    AppealView,
    BookingCancellation,
    BookingFound,
    CancelBooking,
    GetHistory,
    GetSubscriber,
    HistoryLine,
    HistoryReply,
    ListMakeups,
    ListMenteeBookings,
    ListSubscribers,
    Makeup,
    MakeupsReply,
    MenteeBooking,
    MenteeBookingsReply,
    Request,
    SubscriberChanged,
    SubscriberDetail,
    SubscriberReply,
    SubscribersReply,
    SubscriberSummary,
)
from services.gateway import export, makeups, mentor_commands, policies
from services.gateway.auth import Admin, Caller, Mentee, Mentor
from services.gateway.dependencies import Now, OwnersDep, SettingsDep
from services.gateway.owners import Owners
from services.gateway.sessions import Rules, join_refusal

# One router an audience, so that a route's tag is said once; `router` serves them all.
mentees = APIRouter(tags=["mentee"])
mentors = APIRouter(tags=["mentor"])
admins = APIRouter(tags=["admin"])


def _error(description: str, example: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"example": {"detail": example}}},
    }


UNAUTHORIZED = _error("missing, expired or invalid token", "invalid token: Signature has expired")
FORBIDDEN = _error("wrong role, or not the owner", "this mentee is not your subscriber")
NOT_FOUND = _error("unknown id", "no such subscription")
UNAVAILABLE = _error(
    "the owning service did not answer in time",
    "the attendance service did not answer within 5 s; try again shortly",
)
INVALID = {"description": "malformed id or body"}

T = TypeVar("T")


def _refusals(
    *,
    forbidden: dict[str, Any] = FORBIDDEN,
    not_found: dict[str, Any] | None = None,
    conflict: dict[str, Any] | None = None,
    invalid: dict[str, Any] | None = INVALID,
) -> dict[int | str, dict[str, Any]]:
    """A route's documented refusals in status order: 401, 403 and 503 always, the rest when
    given (`invalid=None` where nothing the caller sends can be malformed)."""
    table: dict[int | str, dict[str, Any]] = {401: UNAUTHORIZED, 403: forbidden}
    for code, answer in ((404, not_found), (409, conflict), (422, invalid)):
        if answer is not None:
            table[code] = answer
    table[503] = UNAVAILABLE
    return table


NOT_YOURS = _error("not the caller's booking", "this booking is not yours")
UNKNOWN_BOOKING = _error("unknown booking", "no such booking")


def _own_booking_refusals(conflict: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """The refusals of what a mentee does to one of their bookings; each says its 409."""
    return _refusals(forbidden=NOT_YOURS, not_found=UNKNOWN_BOOKING, conflict=conflict)


class MenteeBookings(BaseModel):
    bookings: list[MenteeBooking]


class Accepted(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"event_id": str(uuid4())}})

    event_id: UUID = Field(description="the id of the event that was published")


class Body(BaseModel):
    """A request body: a field it does not know is a mistake of the caller's (422)."""

    model_config = ConfigDict(extra="forbid")


class AttendanceBody(Body):
    """A status (with an optional reason), or, as before statuses, `attended`."""

    model_config = ConfigDict(
        json_schema_extra={"example": {"status": "excused", "reason": "ill, told me ahead"}}
    )

    status: MentorMarkStatus | None = Field(
        default=None,
        description="present, late, absent, excused (neutral: neither counts nor resets the "
        "streak) or mentor_no_show (the mentor did not come: never held against the mentee)",
    )
    attended: bool | None = Field(
        default=None, description="as before statuses: true is present, false absent"
    )
    reason: Reason | None = Field(
        default=None,
        description=f"why, shown in the history; one line, at most {REASON_MAX_LENGTH} characters",
    )

    @model_validator(mode="after")
    def _one_mark(self) -> AttendanceBody:
        problem = contradiction(self.status, self.attended)
        if problem is not None:
            raise ValueError(problem)
        return self


class WaiverBody(Body):
    model_config = ConfigDict(
        json_schema_extra={"example": {"reason": "both were the bank holiday weekend"}}
    )

    reason: Reason = Field(
        description=f"why, shown in the history; one line, at most {REASON_MAX_LENGTH} characters"
    )


class AppealBody(Body):
    model_config = ConfigDict(
        json_schema_extra={"example": {"reason": "I was in hospital; the note is attached"}}
    )

    reason: Reason = Field(
        description=f"why the absence is wrong or excusable, for the mentor; one line, at most "
        f"{REASON_MAX_LENGTH} characters"
    )


class AcceptanceBody(Body):
    model_config = ConfigDict(json_schema_extra={"example": {"reason": "the hospital note"}})

    reason: Reason | None = Field(
        default=None, description="optional; shown in the history and sent to the mentee"
    )


class RejectionBody(WaiverBody):
    model_config = ConfigDict(json_schema_extra={"example": {"reason": "you told me you forgot"}})


class MakeupTotals(BaseModel):
    total: makeups.MakeupCounts = Field(description="all the mentor's make-ups")
    by_subscription: dict[UUID, makeups.MakeupCounts] = Field(
        description="each subscription's, for those with any counted"
    )

    @classmethod
    def of(cls, listed: list[Makeup]) -> MakeupTotals:
        return cls(
            total=makeups.counted(listed), by_subscription=makeups.counted_by_subscription(listed)
        )


class Subscribers(BaseModel):
    subscribers: list[SubscriberSummary]
    makeups: MakeupTotals | None = Field(
        default=None,
        description="the make-ups the mentor owes for sessions they missed, counted by where "
        "they stand; null when the booking service did not answer in time (the subscribers "
        "are listed all the same)",
    )


def _carried(answer: T | None) -> T:
    """What attendance's reply carries when it did what was asked: without it, the fault
    is attendance's, not the caller's (503)."""
    if answer is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "empty reply from attendance")
    return answer


@mentees.get(
    "/mentee/bookings",
    summary="The caller's bookings",
    responses=_refusals(invalid=None),
)
async def mentee_bookings(caller: Mentee, owners: OwnersDep) -> MenteeBookings:
    reply = await owners.ask(ListMenteeBookings(mentee_id=caller.user_id), MenteeBookingsReply)
    return MenteeBookings(bookings=reply.bookings)


@mentees.post(
    "/bookings/{booking_id}/join",
    summary="Join a session (marks presence when inside its window)",
    status_code=status.HTTP_202_ACCEPTED,
    responses=_own_booking_refusals(
        _error(
            "the booking is cancelled, or the join window is not open (it says when it "
            "opens, or that the session is over, in the slot's zone)",
            "this session opens for joining at Tue 08 Dec 2026, 17:45 (Sao Paulo)",
        )
    ),
)
async def join(
    booking_id: UUID, caller: Mentee, owners: OwnersDep, settings: SettingsDep, now: Now
) -> Accepted:
    """Publishes `session.joined` with `joined_at` = now, inside the session's join window
    (from JOIN_OPENS_MINUTES_BEFORE before its start to its end); outside it, a 409 says
    when it opens or that it is over. Attendance decides the mark from `joined_at`; the
    booking shows as attended once it has."""
    event = await mentee_joins(owners, caller, booking_id, Rules.of(settings), now)
    return Accepted(event_id=event.event_id)


async def mentee_joins(
    owners: Owners, caller: Caller, booking_id: UUID, rules: Rules, now: datetime
) -> SessionJoined:
    """The mentee's join, published; 403, 409 (cancelled, outside the window) otherwise."""
    found = await owners.find_booking(booking_id)
    if found.mentee_id != caller.user_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this booking is not yours")
    _joinable(found, rules, now)
    event = SessionJoined(
        occurred_at=now, booking_id=booking_id, mentee_id=caller.user_id, joined_at=now
    )
    await owners.publish(event)
    return event


def _joinable(found: BookingFound, rules: Rules, now: datetime) -> None:
    """409 for a cancelled booking or a join outside its window (when booking said when
    the session is: an answer from before it did is let through, attendance decides)."""
    if found.status == "cancelled":
        raise HTTPException(status.HTTP_409_CONFLICT, "the booking is cancelled")
    if found.starts_at is not None and found.ends_at is not None:
        refusal = join_refusal(found.starts_at, found.ends_at, found.timezone, now, rules)
        if refusal is not None:
            raise HTTPException(status.HTTP_409_CONFLICT, refusal)


@mentors.post(
    "/mentor/bookings/{booking_id}/join",
    summary="The mentor joins a session (with TRACK_MENTOR_JOINS, a session the mentor "
    "never joined is the mentor's no-show)",
    status_code=status.HTTP_202_ACCEPTED,
    responses=_refusals(
        forbidden=_error(
            "not one of the caller's sessions", "this booking is not one of your mentees'"
        ),
        not_found=UNKNOWN_BOOKING,
        conflict=_error(
            "the booking is cancelled, or the join window is not open",
            "this session ended at Tue 01 Dec 2026, 19:00 (Sao Paulo)",
        ),
    ),
)
async def mentor_join(
    booking_id: UUID, caller: Mentor, owners: OwnersDep, settings: SettingsDep, now: Now
) -> Accepted:
    """Publishes `session.joined` with `role: mentor` and `joined_at` = now, inside the
    session's join window as a mentee's join; it marks no attendance."""
    found = await owners.find_booking(booking_id)
    if found.mentor_id != caller.user_id or found.mentee_id is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this booking is not one of your mentees'")
    _joinable(found, Rules.of(settings), now)
    event = SessionJoined(
        occurred_at=now,
        booking_id=booking_id,
        mentee_id=found.mentee_id,
        joined_at=now,
        role="mentor",
        mentor_id=caller.user_id,
    )
    await owners.publish(event)
    return Accepted(event_id=event.event_id)


class Cancelled(BaseModel):
    booking_id: UUID
    starts_at: datetime
    status: CancellationStatus = Field(
        description="cancelled_in_time: at least CANCEL_NOTICE_HOURS before the start, "
        "neutral to the absence streak; cancelled_late: later, counts as an absence"
    )


@mentees.post(
    "/bookings/{booking_id}/cancel",
    summary="Cancel a booking ahead of its start (in time, or late: counts as an absence)",
    responses=_own_booking_refusals(
        _error("already cancelled, or the session has started", "the booking is already cancelled")
    ),
)
async def cancel(booking_id: UUID, caller: Mentee, owners: OwnersDep, now: Now) -> Cancelled:
    """Booking decides and publishes `booking.cancelled`; the mentor is emailed."""
    request = CancelBooking(
        request_id=uuid4(), mentee_id=caller.user_id, booking_id=booking_id, requested_at=now
    )
    reply = await owners.ask(request, BookingCancellation)
    if reply.booking_id is None or reply.starts_at is None or reply.status is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "empty reply from booking")
    return Cancelled(booking_id=reply.booking_id, starts_at=reply.starts_at, status=reply.status)


@mentees.post(
    "/bookings/{booking_id}/appeal",
    summary="Appeal the absence a booking is marked with, within APPEAL_DAYS of the mark, "
    "with a reason: its mentor accepts (the session becomes excused) or rejects it",
    status_code=status.HTTP_201_CREATED,
    responses=_own_booking_refusals(
        _error(
            "not an absence, an appeal already open or rejected, or too late",
            "only an absence can be appealed; this session is marked present",
        )
    ),
)
async def appeal(
    booking_id: UUID, body: AppealBody, caller: Mentee, owners: OwnersDep, now: Now
) -> AppealView:
    """Attendance files it and publishes `appeal.filed`; mentor and mentee are emailed."""
    request = AppealAbsence(
        request_id=uuid4(),
        mentee_id=caller.user_id,
        booking_id=booking_id,
        reason=body.reason,
        requested_at=now,
    )
    return _carried((await owners.ask(request, AppealReply)).appeal)


@mentors.get(
    "/mentor/subscribers",
    summary="The caller's subscribers with their absence counts",
    responses=_refusals(invalid=None),
)
async def subscribers(caller: Mentor, owners: OwnersDep, now: Now) -> Subscribers:
    reply, owed = await asyncio.gather(
        owners.ask(ListSubscribers(mentor_id=caller.user_id, now=now), SubscribersReply),
        makeups.listed(owners, ListMakeups(mentor_id=caller.user_id)),
    )
    counted = None if owed is None else MakeupTotals.of(owed)
    return Subscribers(subscribers=reply.subscribers, makeups=counted)


@mentors.get(
    "/mentor/subscribers/{subscription_id}",
    summary="One subscriber, with every booking and its attendance mark",
    responses=_refusals(not_found=NOT_FOUND),
)
async def subscriber(
    subscription_id: UUID, caller: Mentor, owners: OwnersDep, now: Now
) -> SubscriberDetail:
    request = GetSubscriber(mentor_id=caller.user_id, subscription_id=subscription_id, now=now)
    return _carried((await owners.ask(request, SubscriberReply)).subscriber)


class History(BaseModel):
    timezone: str = Field(description="the slot's IANA time zone")
    history: list[HistoryLine] = Field(description="oldest first; lines are never changed")


@mentors.get(
    "/mentor/subscribers/{subscription_id}/history",
    summary="One subscriber's history: every mark change, warning, reprobation, "
    "reactivation and step of a make-up, with the old and new status, who, when and why",
    responses=_refusals(not_found=NOT_FOUND),
)
async def history(subscription_id: UUID, caller: Mentor, owners: OwnersDep) -> History:
    request = GetHistory(mentor_id=caller.user_id, subscription_id=subscription_id)
    reply = await owners.ask(request, HistoryReply)
    return History(timezone=reply.timezone, history=reply.history)


CSV = {
    "description": "one row per booking, by start in the slot's zone, then mentee and "
    "booking: " + ", ".join(export.COLUMNS) + "; times as YYYY-MM-DD HH:MM in the slot's "
    "zone (the timezone column)",
    "content": {"text/csv": {"schema": {"type": "string"}}},
}


@mentors.get(
    "/mentor/attendance.csv",
    summary="The caller's sessions starting from `from` to `to` (UTC days, both included), "
    "as CSV, with times in each slot's zone",
    response_class=Response,
    responses={
        200: CSV,
        **_refusals(
            invalid=_error(
                "a malformed or reversed range, or more than 366 days", '"to" is before "from"'
            )
        ),
    },
)
async def attendance_csv(
    caller: Mentor,
    owners: OwnersDep,
    now: Now,
    starts_on: Annotated[date, Query(alias="from", description="first day, YYYY-MM-DD")],
    ends_on: Annotated[date, Query(alias="to", description="last day, YYYY-MM-DD")],
) -> Response:
    return await export.download(owners, caller.user_id, starts_on, ends_on, now)


@mentors.get(
    "/mentor/policy",
    summary="The caller's own absence policy (their default for every subscription), when "
    "it was set, and the settings each field left unset falls back to",
    responses=_refusals(invalid=None),
)
async def mentor_policy(caller: Mentor, owners: OwnersDep) -> policies.MentorPolicy:
    return await policies.mentor_policy(owners, caller.user_id)


@mentors.put(
    "/mentor/policy",
    summary="Set the caller's own absence policy from now on: each field set wins over the "
    "settings for all their subscriptions (a subscription's own still wins over it). It "
    "judges what is recorded from now on, never retroactively; each subscriber's history "
    "gets a line and mentor.policy_changed is published. The same policy again changes "
    "nothing.",
    responses=_refusals(invalid=_error("a malformed policy", "expected N:D ... got '3'")),
)
async def set_mentor_policy(
    body: policies.PolicyBody, caller: Mentor, owners: OwnersDep, now: Now
) -> policies.MentorPolicy:
    return await policies.set_mentor_policy(owners, caller.user_id, body, now)


PREVIEW_SUMMARY = (
    "What a proposed absence policy would have done: {whose}, their recorded marks replayed "
    "over their current cycle (or the days `from`-`to`) under the policy in force and under "
    "the proposal, with the warnings and reprobations each gives and the sessions that "
    "caused them, and the totals. Writes nothing, publishes nothing."
)


@mentors.post(
    "/mentor/policy/preview",
    summary=PREVIEW_SUMMARY.format(whose="each of the caller's subscribers"),
    responses=_refusals(invalid=_error("a malformed policy", "expected N:D ... got '3'")),
)
async def preview_mentor_policy(
    body: policies.ProposalBody, caller: Mentor, owners: OwnersDep
) -> policies.Preview:
    return await policies.preview(owners, caller.user_id, body)


@dataclass(frozen=True)
class MentorCommands:
    """A mentor's commands to attendance: who gives them, through whom, and when."""

    mentor_id: UUID
    owners: Owners
    now: datetime

    async def send(self, request: Request) -> SubscriberDetail:
        """The answer is the subscriber as it now stands."""
        return _carried((await self.owners.ask(request, SubscriberChanged)).subscriber)


async def commanding(caller: Mentor, owners: OwnersDep, now: Now) -> MentorCommands:
    return MentorCommands(caller.user_id, owners, now)


Commanding = Annotated[MentorCommands, Depends(commanding)]


@mentors.post(
    "/mentor/bookings/{booking_id}/attendance",
    summary="Mark a booking present, late, absent, excused or mentor_no_show "
    "(overrides the system's mark)",
    responses=_refusals(
        not_found=UNKNOWN_BOOKING,
        conflict=_error(
            "the booking is cancelled, or the session has not started yet (only excused "
            "may be given ahead)",
            "the session has not started yet, so it cannot be marked present (only "
            "excused can be given ahead)",
        ),
    ),
)
async def mark_attendance(
    booking_id: UUID, body: AttendanceBody, mentor: Commanding
) -> SubscriberDetail:
    request = mentor_commands.mark(
        mentor.mentor_id,
        booking_id,
        status=body.status,
        attended=body.attended,
        reason=body.reason,
        now=mentor.now,
    )
    return await mentor.send(request)


@mentors.delete(
    "/mentor/bookings/{booking_id}/attendance",
    summary="Take back your own mark of a session that has not started: it is not marked again",
    responses=_refusals(
        not_found=UNKNOWN_BOOKING,
        conflict=_error(
            "the session has started, or its mark is not yours",
            "the session has started: give it the mark that is true instead",
        ),
        invalid=None,
    ),
)
async def clear_mark(booking_id: UUID, mentor: Commanding) -> SubscriberDetail:
    return await mentor.send(mentor_commands.clear_mark(mentor.mentor_id, booking_id, mentor.now))


@mentors.post(
    "/mentor/subscribers/{subscription_id}/reactivate",
    summary="Reactivate a reprobated mentee: bookings are regenerated until the cycle ends",
    responses=_refusals(
        not_found=NOT_FOUND,
        conflict=_error("the mentee is not reprobated", "the mentee is not reprobated"),
    ),
)
async def reactivate(subscription_id: UUID, mentor: Commanding) -> SubscriberDetail:
    request = mentor_commands.reactivate(mentor.mentor_id, subscription_id, mentor.now)
    return await mentor.send(request)


@mentors.post(
    "/mentor/subscribers/{subscription_id}/waive",
    summary="Waive a pending reprobation (REPROBATION_REVIEW_HOURS), with a reason: nothing "
    "is cancelled and the absence streak starts over",
    responses=_refusals(
        not_found=NOT_FOUND,
        conflict=_error("no reprobation is pending", "no reprobation is pending"),
    ),
)
async def waive(subscription_id: UUID, body: WaiverBody, mentor: Commanding) -> SubscriberDetail:
    request = mentor_commands.waive(mentor.mentor_id, subscription_id, body.reason, mentor.now)
    return await mentor.send(request)


DECISION_REFUSED = _refusals(
    not_found=_error("unknown appeal", "no such appeal"),
    conflict=_error("the appeal is no longer open", "the appeal was already accepted"),
)


@mentors.post(
    "/mentor/appeals/{appeal_id}/accept",
    summary="Accept an appeal: the session becomes excused and the streak is recounted "
    "(a pending reprobation it breaks is withdrawn, an applied one lifted)",
    responses=DECISION_REFUSED,
)
async def accept_appeal(
    appeal_id: UUID, mentor: Commanding, body: AcceptanceBody | None = None
) -> SubscriberDetail:
    return await _decide(mentor, appeal_id, True, body.reason if body else None)


@mentors.post(
    "/mentor/appeals/{appeal_id}/reject",
    summary="Reject an appeal, with a reason: the absence stands",
    responses=DECISION_REFUSED,
)
async def reject_appeal(
    appeal_id: UUID, body: RejectionBody, mentor: Commanding
) -> SubscriberDetail:
    return await _decide(mentor, appeal_id, False, body.reason)


async def _decide(
    mentor: MentorCommands, appeal_id: UUID, accept: bool, reason: str | None
) -> SubscriberDetail:
    request = mentor_commands.decide_appeal(
        mentor.mentor_id, appeal_id, accept=accept, reason=reason, now=mentor.now
    )
    return await mentor.send(request)


class Makeups(BaseModel):
    makeups: list[Makeup] = Field(
        description="one per session the mentor missed (its final mark mentor_no_show), "
        "with where its make-up stands"
    )


class MentorMakeups(Makeups):
    counts: MakeupTotals


class MakeupBody(Body):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "missed_booking_id": str(uuid4()),
                "starts_at": "2026-12-10T19:00:00-03:00",
            }
        }
    )

    missed_booking_id: UUID = Field(description="the missed session the make-up is owed for")
    starts_at: AwareDatetime = Field(
        description="the make-up's start, with its offset; it lasts as long as the missed "
        "session, and starts by the make-up's book_by at the latest"
    )


@mentors.get(
    "/mentor/subscribers/{subscription_id}/makeups",
    summary="One subscriber's make-up sessions: one owed for each session the mentor "
    "missed, to be booked by book_by, and where each stands",
    responses=_refusals(not_found=NOT_FOUND, invalid=None),
)
async def subscriber_makeups(
    subscription_id: UUID, caller: Mentor, owners: OwnersDep, now: Now
) -> Makeups:
    listed = await makeups.of_subscriber(owners, caller.user_id, subscription_id, now)
    return Makeups(makeups=listed)


@mentors.get(
    "/mentor/makeups",
    summary="Every make-up session the caller owes for a session they missed, of all their "
    "subscriptions, with where each stands, counted in all and by subscription",
    responses=_refusals(invalid=None),
)
async def mentor_makeups(caller: Mentor, owners: OwnersDep) -> MentorMakeups:
    reply = await owners.ask(ListMakeups(mentor_id=caller.user_id), MakeupsReply)
    return MentorMakeups(makeups=reply.makeups, counts=MakeupTotals.of(reply.makeups))


@mentors.post(
    "/mentor/subscribers/{subscription_id}/makeups",
    summary="Book the make-up owed for a session the mentor missed: a session as long as "
    "the missed one, starting from now to book_by, clashing with none of the mentor's",
    status_code=status.HTTP_201_CREATED,
    responses=_refusals(
        forbidden=_error("not the caller's subscriber", "this subscription is not yours"),
        not_found=_error("nothing is owed for that session", "no make-up is owed for that session"),
        conflict=_error(
            "already booked, withdrawn, used or expired, the mentee is reprobated, or the "
            "time clashes with another of the mentor's sessions",
            "clashes with your session with Maria Lima on Thu 10 Dec 2026, 19:00 (Sao Paulo)",
        ),
        invalid=_error(
            "a malformed body, a start in the past or after book_by",
            "the make-up must start by Tue 15 Dec 2026, 19:00 (Sao Paulo)",
        ),
    ),
)
async def schedule_makeup(subscription_id: UUID, body: MakeupBody, mentor: Commanding) -> Makeup:
    """Booking books it and publishes `bookings.scheduled` with `kind: makeup`."""
    command = mentor_commands.schedule_makeup(
        mentor.mentor_id, subscription_id, body.missed_booking_id, body.starts_at, mentor.now
    )
    return await makeups.booked(mentor.owners, command)


class SweepAccepted(Accepted):
    model_config = ConfigDict(
        json_schema_extra={"example": {"event_id": str(uuid4()), "tick_at": "2026-03-02T18:05:00Z"}}
    )

    tick_at: datetime = Field(description="the sweep's time: now, as the gateway read it")


@admins.post(
    "/admin/sweep",
    summary="Sweep now: publishes a sweep.tick with tick_at = now",
    status_code=status.HTTP_202_ACCEPTED,
    responses=_refusals(invalid=None),
)
async def sweep(caller: Admin, owners: OwnersDep, now: Now) -> SweepAccepted:
    tick = SweepTick(occurred_at=now, tick_at=now)
    await owners.publish(tick)
    return SweepAccepted(event_id=tick.event_id, tick_at=now)


@admins.post(
    "/admin/policy/preview",
    summary=PREVIEW_SUMMARY.format(whose="every mentor's subscribers")
    + " Lists only the subscribers the proposal changes (at most 1,000); the totals count all.",
    responses=_refusals(invalid=_error("a malformed policy", "expected N:D ... got '3'")),
)
async def preview_platform_policy(
    body: policies.ProposalBody, caller: Admin, owners: OwnersDep
) -> policies.Preview:
    return await policies.preview(owners, None, body)


router = APIRouter(prefix="/api")
for _audience in (mentees, mentors, admins):
    router.include_router(_audience)

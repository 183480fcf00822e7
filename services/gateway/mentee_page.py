"""The mentee's own page: their standing, their sessions with their marks, and the
Join, Cancel and Appeal buttons for what is allowed now. Same session cookie, CSRF
checks and security headers as the mentor's pages; each action answers with the
panel as it is after it, so the page updates in place and says what happened."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse

from contracts.rpc import (
    AppealAbsence,
    AppealReply,
    AppealView,
    BookingAttendance,
    BookingCancellation,
    CancelBooking,
    GetMenteeStanding,
    ListMakeups,
    Makeup,
    MenteeStandingReply,
    SubscriberDetail,
)
from services.gateway import makeups
from services.gateway.api import mentee_joins
from services.gateway.auth import Caller, PageToken
from services.gateway.dashboard import (
    FormReason,
    PageChange,
    error_words,
    form_checked,
    fragment_error,
    page_caller,
    page_routers,
    page_unavailable,
    refuse_forgery,
    templates,
)
from services.gateway.dependencies import Now, OwnersDep, SettingsDep
from services.gateway.feeds import calendar_context, feed_url_if_known
from services.gateway.owners import Owners
from services.gateway.sessions import Offer, Rules, Standing, mark_words, offer, standing
from services.gateway.times import when

# The page, and its posts (each also refused as a forgery; `router` includes them).
router, changes = page_routers("/dashboard/mentorship/bookings", "mentee's page")

PAGE = "/dashboard/mentorship/bookings"
# After a join or a cancellation, attendance records it a moment later (it travels as
# an event): the answer waits this long at most for the page to show it.
SETTLE_SECONDS = 3.0
SETTLE_POLL_SECONDS = 0.1


async def page_mentee(request: Request, token: PageToken) -> Caller:
    return await page_caller(request, token, "mentee")


async def changing_mentee(request: Request, token: PageToken) -> Caller:
    await refuse_forgery(request)
    return await page_mentee(request, token)


PageMentee = Annotated[Caller, Depends(page_mentee)]
ChangingMentee = Annotated[Caller, Depends(changing_mentee)]


@dataclass(frozen=True)
class MenteePageChange(PageChange):
    """A change the mentee asks for from their page, under the sessions' rules."""

    rules: Rules

    def refused(self, error: HTTPException) -> HTMLResponse:
        """An owner's refusal or silence, in the mentee's words."""
        return fragment_error(self.request, error, _mentee_words(error))

    async def panel(self, reply: MenteeStandingReply, said: str) -> HTMLResponse:
        """The panel as `reply` shows it, saying what happened."""
        owed = await _makeups(self.owners, self.caller)
        return templates.TemplateResponse(
            self.request,
            "_mentee_panel.html",
            page_context(reply, self.now, self.rules, said, owed=owed),
        )


async def mentee_change(
    request: Request, caller: ChangingMentee, owners: OwnersDep, settings: SettingsDep, now: Now
) -> MenteePageChange:
    return MenteePageChange(request, caller, owners, now, Rules.of(settings))


MenteeChange = Annotated[MenteePageChange, Depends(mentee_change)]


@dataclass(frozen=True)
class Row:
    session: BookingAttendance
    offer: Offer
    mark: str
    appeals: list[AppealView]
    counts: str | None  # how the absence counts against the mentee now, if it does
    makeup: Makeup | None  # the make-up this session is, if it is one


@dataclass(frozen=True)
class SubscriptionView:
    subscription: SubscriberDetail
    standing: Standing
    this_cycle: list[Row]
    earlier: list[Row]
    # What the mentor owes for the sessions they missed (not those withdrawn: they came).
    makeups: list[Makeup]


def _view(
    subscription: SubscriberDetail, now: datetime, rules: Rules, owed: Sequence[Makeup]
) -> SubscriptionView:
    s = subscription
    where = standing(s, now)
    counts = {c.booking_id: c.words for c in where.counted}
    mine = [m for m in owed if m.subscription_id == s.subscription_id]
    made_up = makeups.booked_sessions(mine)
    rows = [
        Row(
            b,
            offer(b, now, rules),
            mark_words(b, now),
            [a for a in s.appeals if a.booking_id == b.booking_id],
            counts.get(b.booking_id),
            made_up.get(b.booking_id),
        )
        for b in sorted(s.bookings, key=lambda b: b.starts_at)
    ]
    starts = s.cycle_starts_at
    return SubscriptionView(
        s,
        where,
        [r for r in rows if starts is None or r.session.starts_at >= starts],
        [r for r in rows if starts is not None and r.session.starts_at < starts],
        sorted((m for m in mine if m.status != "withdrawn"), key=lambda m: m.missed_starts_at),
    )


async def _standing(owners: Owners, caller: Caller, now: datetime) -> MenteeStandingReply:
    return await owners.ask(
        GetMenteeStanding(mentee_id=caller.user_id, now=now), MenteeStandingReply
    )


async def _makeups(owners: Owners, caller: Caller) -> list[Makeup] | None:
    return await makeups.listed(owners, ListMakeups(mentee_id=caller.user_id))


def page_context(
    reply: MenteeStandingReply,
    now: datetime,
    rules: Rules,
    said: str = "",
    *,
    owed: Sequence[Makeup] | None = (),
) -> dict[str, Any]:
    """`owed` (the mentee's make-ups) is None when booking did not say them: the page
    says so."""
    return {
        "subscriptions": [_view(s, now, rules, owed or ()) for s in reply.subscriptions],
        "now": now,
        "said": said,
        "makeups_unavailable": owed is None,
    }


@router.get("", summary="The mentee's sessions and standing (HTML)")
async def bookings_page(
    request: Request, caller: PageMentee, owners: OwnersDep, settings: SettingsDep, now: Now
) -> HTMLResponse:
    with page_unavailable("Your sessions are unavailable"):
        reply, owed, calendar_url = await asyncio.gather(
            _standing(owners, caller, now),
            _makeups(owners, caller),
            feed_url_if_known(request, owners, caller),
        )
    context = page_context(reply, now, Rules.of(settings), owed=owed)
    return templates.TemplateResponse(
        request, "mentee.html", {**context, **calendar_context(caller, calendar_url)}
    )


@router.get(
    "/panel",
    summary="The mentee's sessions and standing (HTML fragment, for in-page refresh)",
)
async def bookings_panel(
    request: Request, caller: PageMentee, owners: OwnersDep, settings: SettingsDep, now: Now
) -> HTMLResponse:
    try:
        reply, owed = await asyncio.gather(_standing(owners, caller, now), _makeups(owners, caller))
    except HTTPException as error:
        return fragment_error(request, error, _mentee_words(error))
    return templates.TemplateResponse(
        request, "_mentee_panel.html", page_context(reply, now, Rules.of(settings), owed=owed)
    )


def _mentee_words(error: HTTPException) -> str:
    return error_words(
        error, forbidden="This session is not yours.", not_found="There is no such session."
    )


def _session_of(
    reply: MenteeStandingReply, booking_id: UUID
) -> tuple[BookingAttendance, str] | None:
    for s in reply.subscriptions:
        for b in s.bookings:
            if b.booking_id == booking_id:
                return b, s.timezone
    return None


def _zone_of(reply: MenteeStandingReply, booking_id: UUID) -> str:
    """The zone the mentee reads a session's times in: its slot's (UTC if it is not shown)."""
    found = _session_of(reply, booking_id)
    return found[1] if found else "UTC"


async def _settled(
    owners: Owners,
    caller: Caller,
    now: datetime,
    booking_id: UUID,
    done: Callable[[BookingAttendance], bool],
) -> MenteeStandingReply:
    """The standing once attendance shows the booking `done` (or as it is after
    SETTLE_SECONDS: the page then says it will show in a moment)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_SECONDS
    while True:
        reply = await _standing(owners, caller, now)
        found = _session_of(reply, booking_id)
        if found is None or done(found[0]) or loop.time() >= deadline:
            return reply
        await asyncio.sleep(SETTLE_POLL_SECONDS)


@changes.post(
    "/{booking_id}/join",
    summary="Join a session inside its window (returns the updated panel, once marked)",
)
async def join(booking_id: UUID, change: MenteeChange) -> HTMLResponse:
    owners, caller, now = change.owners, change.caller, change.now
    try:
        await mentee_joins(owners, caller, booking_id, change.rules, now)
        reply = await _settled(owners, caller, now, booking_id, lambda b: b.status is not None)
    except HTTPException as error:
        return change.refused(error)
    found = _session_of(reply, booking_id)
    said = "You joined the session; it will show as marked in a moment."
    if found is not None:
        session, zone = found
        said = f"You joined the session of {when(session.starts_at, zone)}"
        said += (
            f": marked {mark_words(session, now)}."
            if session.status
            else "; it will show as marked in a moment."
        )
    return await change.panel(reply, said)


@changes.post(
    "/{booking_id}/cancel",
    summary="Cancel a session before it starts: in time (CANCEL_NOTICE_HOURS ahead) it does "
    "not count, later it counts as an absence (returns the updated panel)",
)
async def cancel(booking_id: UUID, change: MenteeChange) -> HTMLResponse:
    owners, caller, now = change.owners, change.caller, change.now
    command = CancelBooking(
        request_id=uuid4(), mentee_id=caller.user_id, booking_id=booking_id, requested_at=now
    )
    try:
        cancelled = await owners.ask(command, BookingCancellation)
        reply = await _settled(owners, caller, now, booking_id, lambda b: b.cancelled)
    except HTTPException as error:
        return change.refused(error)
    session = when(cancelled.starts_at, _zone_of(reply, booking_id))
    if cancelled.status == "cancelled_in_time":
        said = f"You cancelled the session of {session} in time: it does not count."
    else:
        said = f"You cancelled the session of {session} late: it counts as an absence."
    return await change.panel(reply, said)


@changes.post(
    "/{booking_id}/appeal",
    summary="Appeal an absence, with a reason, within APPEAL_DAYS (returns the updated panel)",
)
async def appeal(booking_id: UUID, change: MenteeChange, reason: FormReason = "") -> HTMLResponse:
    owners, caller, now = change.owners, change.caller, change.now
    with form_checked("Say why the absence should not count: one line is needed."):
        command = AppealAbsence(
            request_id=uuid4(),
            mentee_id=caller.user_id,
            booking_id=booking_id,
            reason=reason,
            requested_at=now,
        )
    try:
        filed = await owners.ask(command, AppealReply)
        reply = await _standing(owners, caller, now)
    except HTTPException as error:
        return change.refused(error)
    said = "Your appeal is sent to your mentor, who will accept or reject it."
    if filed.appeal is not None:
        zone = _zone_of(reply, filed.appeal.booking_id)
        said = (
            f"Your appeal of the absence of {when(filed.appeal.starts_at, zone)} is sent to "
            "your mentor, who will accept or reject it."
        )
    return await change.panel(reply, said)


router.include_router(changes)

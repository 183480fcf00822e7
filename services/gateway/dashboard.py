"""The mentor dashboard: server-rendered pages, and small HTML fragments that the
page swaps in after a mark or a reactivation (no reload, no front-end build)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from contracts import MENTOR_MARK_STATUSES
from contracts.messages import REASON_MAX_LENGTH, MentorMarkStatus
from contracts.policy import AbsencesInDays, plural
from contracts.rpc import (
    GetHistory,
    GetSubscriber,
    HistoryReply,
    ListMakeups,
    ListSubscribers,
    Makeup,
    SubscriberChanged,
    SubscriberDetail,
    SubscriberReply,
    SubscribersReply,
    SubscriberSummary,
)
from services.gateway import export, makeups, mentor_commands, mentor_list
from services.gateway.auth import Caller, PageToken, Role, dev_sign_in_enabled, page_caller_of
from services.gateway.dependencies import Now, OwnersDep
from services.gateway.feeds import calendar_context, feed_url_if_known
from services.gateway.mentor_list import MEANINGS, Need, need_of
from services.gateway.outcomes import Action, status_words, what_happened
from services.gateway.owners import Owners
from services.gateway.policy_view import outcome_words, reprobation_ends
from services.gateway.security import forgery_refusal, session_csrf_token
from services.gateway.times import (
    ZONE_COOKIE,
    Reader,
    clock,
    day,
    for_mentee,
    place,
    reader,
    when,
)

HERE = Path(__file__).parent


def _csrf(request: Request) -> dict[str, Any]:
    """Every page knows its session's CSRF token (`<meta name="csrf-token">`)."""
    return {"csrf_token": session_csrf_token(request)}


def _browser_zone(request: Request) -> dict[str, Any]:
    """Every page knows the browser's zone as dashboard.js said it (unchecked: `reader`
    keeps only a zone it knows), to read times in when the mentor's is unknown."""
    return {"browser_zone": request.cookies.get(ZONE_COOKIE)}


def reading_of(request: Request, mentor_zone: str | None) -> Reader:
    """The zone the mentor reads this page's times in (`reader`)."""
    return reader(mentor_zone, request.cookies.get(ZONE_COOKIE))


templates = Jinja2Templates(directory=HERE / "templates", context_processors=[_csrf, _browser_zone])
# What every page and fragment answers to someone it is not for (`page_caller`).
PAGE_REFUSED: dict[int | str, dict[str, Any]] = {
    401: {
        "description": "nobody is signed in, or the token is expired or bad: says so, "
        "with a sign-in link"
    },
    403: {"description": "signed in with another role"},
}
router = APIRouter(
    prefix="/dashboard/mentorship",
    tags=["dashboard"],
    include_in_schema=True,
    responses=PAGE_REFUSED,
    default_response_class=HTMLResponse,
)


def policy_words(subscriber: SubscriberSummary) -> str:
    """The policy in force for a subscriber, as a sentence: its thresholds, its rules
    beside them when on, and the review window."""
    s = subscriber
    review = (
        f", once you have had {s.reprobation_review_hours:g} hours to review it"
        if s.reprobation_review_hours
        else ""
    )
    warn_beside = _warn_rules_beside(s)
    reprobate_beside = _in_days(s.reprobate_after_absences_in_days)
    if not warn_beside and not reprobate_beside:
        absences = "absence" if s.warn_after_absences == 1 else "absences"
        return (
            f"warned after {s.warn_after_absences} {absences}, reprobated after "
            f"{s.reprobate_after_absences} in a row{review}"
        )
    # Beside other counts, say which absences the thresholds count: those in a row.
    in_a_row = plural(s.warn_after_absences, "absence") + (
        " in a row" if s.warn_after_absences > 1 else ""
    )
    warned = _either([f"after {in_a_row}", *warn_beside])
    reprobated = _either([f"after {s.reprobate_after_absences} in a row", *reprobate_beside])
    # A semicolon: each side may list its rules with commas.
    return f"warned {warned}; reprobated {reprobated}{review}"


def _warn_rules_beside(s: SubscriberSummary) -> list[str]:
    """The rules beside the consecutive threshold that warn, those that are on."""
    rules = _in_days(s.warn_after_absences_in_days)
    if s.warn_below_attendance_rate is not None:
        sessions = s.attendance_rate_sessions
        last = {None: "the latest sessions", 1: "the last session"}.get(
            sessions, f"the last {sessions} sessions"
        )
        rules.append(f"when attendance over {last} falls below {s.warn_below_attendance_rate:g}%")
    return rules


def _in_days(rule: str | None) -> list[str]:
    """An N:D rule as 'after N absences within D days', none when it is off."""
    return [] if rule is None else [f"after {AbsencesInDays.parse(rule).words()}"]


def _either(options: list[str]) -> str:
    """'a', 'a or b', 'a, b, or c'."""
    if len(options) < 3:
        return " or ".join(options)
    return f"{', '.join(options[:-1])}, or {options[-1]}"


# Each filter is known to the templates by its function's name.
for _filter in (
    when,
    clock,
    day,
    policy_words,
    reprobation_ends,
    place,
    for_mentee,
    status_words,
    need_of,
    outcome_words,
    makeups.makeup_words,
    makeups.owed_words,
    makeups.step_words,
    makeups.makeup_length,
    makeups.field_value,
    makeups.typed_words,
    makeups.counts_words,
):
    templates.env.filters[_filter.__name__] = _filter
templates.env.globals.update(
    reader=reader,
    mentor_statuses=MENTOR_MARK_STATUSES,
    meanings=MEANINGS,
    reason_max_length=REASON_MAX_LENGTH,
)


class PageError(Exception):
    def __init__(self, status_code: int, heading: str, message: str, sign_in: bool = False) -> None:
        self.status_code, self.heading, self.message, self.sign_in = (
            status_code,
            heading,
            message,
            sign_in,
        )


async def page_caller(request: Request, token: str | None, role: Role) -> Caller:
    """The signed-in person with `role`, or a page that says what is wrong."""
    try:
        caller = page_caller_of(request, token)
    except HTTPException as error:
        raise PageError(401, "Please sign in", str(error.detail), sign_in=True) from error
    if caller.role != role:
        raise PageError(
            403,
            f"{role.capitalize()}s only",
            f"This page is for {role}s; you are signed in as a {caller.role}.",
        )
    return caller


async def page_mentor(request: Request, token: PageToken) -> Caller:
    """The signed-in mentor, or a page that says what is wrong."""
    return await page_caller(request, token, "mentor")


PageMentor = Annotated[Caller, Depends(page_mentor)]


async def refuse_forgery(request: Request) -> None:
    """403 for a cookie-borne change that another site may have sent (see `security`)."""
    refusal = await forgery_refusal(request)
    if refusal is not None:
        raise PageError(403, "Request refused", refusal)


async def changing_mentor(request: Request, token: PageToken) -> Caller:
    """The signed-in mentor asking for a change from the dashboard's own pages."""
    await refuse_forgery(request)
    return await page_mentor(request, token)


ChangingMentor = Annotated[Caller, Depends(changing_mentor)]


@dataclass(frozen=True)
class PageChange:
    """A change asked for from one of the pages: by whom, through whom, and when; the
    answer is an HTML fragment the page swaps in, in reply to this `request`."""

    request: Request
    caller: Caller
    owners: Owners
    now: datetime


async def mentor_change(
    request: Request, caller: ChangingMentor, owners: OwnersDep, now: Now
) -> PageChange:
    return PageChange(request, caller, owners, now)


MentorChange = Annotated[PageChange, Depends(mentor_change)]
CHANGE_REFUSED: dict[int | str, dict[str, Any]] = {
    403: {
        "description": "made with the `session` cookie but sent by another site (`Origin`, "
        "`Sec-Fetch-Site`) or without the session's CSRF token (`X-CSRF-Token`, as the "
        "page's script sends it); also: not the owner"
    }
}
# The routes that change something, each also refused as a forgery; `router` includes them.
changes = APIRouter(responses=CHANGE_REFUSED)


def page_routers(prefix: str, tag: str) -> tuple[APIRouter, APIRouter]:
    """The router of another page's routes under `prefix`, and that of its posts, each
    also refused as a forgery (the first includes the second once they are defined)."""
    page = APIRouter(
        prefix=prefix, tags=[tag], responses=PAGE_REFUSED, default_response_class=HTMLResponse
    )
    return page, APIRouter(responses=CHANGE_REFUSED)


def error_words(
    error: HTTPException,
    forbidden: str = "This mentee is not one of your subscribers.",
    not_found: str = "There is no such subscriber or booking.",
) -> str:
    messages = {
        403: forbidden,
        404: not_found,
        409: "That cannot be done now: {detail}.",
        503: "The service is busy or unreachable; please try again in a moment. ({detail})",
    }
    template = messages.get(error.status_code, "Something went wrong: {detail}.")
    return template.format(detail=error.detail)


@contextmanager
def page_unavailable(
    heading: str, words: Callable[[HTTPException], str] = error_words
) -> Iterator[None]:
    """An owner's refusal or silence while a whole page is made: a page headed `heading`
    that says it in `words`."""
    try:
        yield
    except HTTPException as error:
        raise PageError(error.status_code, heading, words(error)) from error


class InvalidForm(Exception):
    """A form a page sent that no command can be made of: said in place, a 422."""


@contextmanager
def form_checked(words: str | None = None) -> Iterator[None]:
    """A command made of a page's form: what pydantic refuses in it, the page says in
    `words`, or else in pydantic's own."""
    try:
        yield
    except ValidationError as error:
        raise InvalidForm(words or "; ".join(e["msg"] for e in error.errors())) from error


def fragment_error(
    request: Request, error: HTTPException, words: str | None = None
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "_error.html",
        {"message": words or error_words(error)},
        status_code=error.status_code,
    )


View = Literal["panel", "row"]
# A reason typed into a page's form (empty: none given).
FormReason = Annotated[str, Form(max_length=REASON_MAX_LENGTH)]


@router.get("/subscribers", summary="The mentor's subscribers (HTML)")
async def subscribers_page(
    request: Request,
    caller: PageMentor,
    owners: OwnersDep,
    now: Now,
    need: Annotated[Need | None, Query(description="only the subscribers in this status")] = None,
) -> HTMLResponse:
    with page_unavailable("Subscribers unavailable"):
        reply, calendar_url, owed = await asyncio.gather(
            owners.ask(ListSubscribers(mentor_id=caller.user_id, now=now), SubscribersReply),
            feed_url_if_known(request, owners, caller),
            makeups.listed(owners, ListMakeups(mentor_id=caller.user_id)),
        )
    today = now.date()
    reading = reading_of(request, reply.mentor_timezone)
    everyone = mentor_list.needs_first(reply.subscribers)
    return templates.TemplateResponse(
        request,
        "subscribers.html",
        {
            "subscribers": mentor_list.only(everyone, need),
            "everyone": everyone,
            "need": need,
            "counts": mentor_list.counts(everyone),
            "today": mentor_list.todays(reply.near, everyone, now, reading.zone),
            "reader_zone": reading.zone,
            "reading": reading,
            "now": now,
            "export_from": today - timedelta(days=30),
            "export_to": today,
            **_makeup_counts(owed),
            **calendar_context(caller, calendar_url),
        },
    )


def _makeup_counts(owed: list[Makeup] | None) -> dict[str, Any]:
    """The mentor's make-ups counted in all and by subscription, as the list shows them;
    None for both when booking did not answer (the list says they cannot be counted)."""
    if owed is None:
        return {"makeup_totals": None, "makeups_of": None}
    return {
        "makeup_totals": makeups.counted(owed),
        "makeups_of": makeups.counted_by_subscription(owed),
    }


@router.get("/subscribers/{subscription_id}", summary="One subscriber (HTML)")
async def subscriber_page(
    subscription_id: UUID, request: Request, caller: PageMentor, owners: OwnersDep, now: Now
) -> HTMLResponse:
    with page_unavailable("Subscriber unavailable"):
        context = await _subscriber(owners, caller, subscription_id, now)
    return templates.TemplateResponse(request, "subscriber.html", context)


@router.get(
    "/subscribers/{subscription_id}/{part}",
    summary="One subscriber's panel, or their row of the list (HTML fragment, for in-page refresh)",
)
async def subscriber_part(
    subscription_id: UUID,
    part: View,
    request: Request,
    caller: PageMentor,
    owners: OwnersDep,
    now: Now,
) -> HTMLResponse:
    try:
        context = await _subscriber(owners, caller, subscription_id, now, history=part == "panel")
    except HTTPException as error:
        return fragment_error(request, error)
    if part == "row":
        return templates.TemplateResponse(request, "_subscriber_row.html", context)
    return templates.TemplateResponse(request, "_subscriber_panel.html", context)


@router.get(
    "/attendance.csv",
    summary="The mentor's sessions from `from` to `to` (UTC days, both included), as CSV",
    response_class=Response,
)
async def attendance_csv(
    caller: PageMentor,
    owners: OwnersDep,
    now: Now,
    starts_on: Annotated[date, Query(alias="from")],
    ends_on: Annotated[date, Query(alias="to")],
) -> Response:
    with page_unavailable("Export unavailable"):
        return await export.download(owners, caller.user_id, starts_on, ends_on, now)


async def _subscriber(
    owners: OwnersDep, caller: Caller, subscription_id: UUID, now: datetime, history: bool = True
) -> dict[str, Any]:
    """A subscriber as their page shows them, with their history and make-ups; or, with
    `history` off, as the list's row shows them (`s`), with their make-ups counted."""
    request_ = GetSubscriber(mentor_id=caller.user_id, subscription_id=subscription_id, now=now)
    if not history:
        reply, row = await asyncio.gather(
            owners.ask(request_, SubscriberReply), _row_makeups(owners, subscription_id)
        )
        return {"s": reply.subscriber, "now": now, **row}
    reply, more = await asyncio.gather(
        owners.ask(request_, SubscriberReply), _history(owners, caller, subscription_id)
    )
    return {"subscriber": reply.subscriber, "now": now, **more}


async def _row_makeups(owners: Owners, subscription_id: UUID) -> dict[str, Any]:
    """A row's make-ups counted, for a row shown alone (it says so when booking is silent,
    which the whole list says once above the rows)."""
    owed = await makeups.listed(owners, ListMakeups(subscription_id=subscription_id))
    return {"row_alone": True, **_makeup_counts(owed)}


async def _history(owners: OwnersDep, caller: Caller, subscription_id: UUID) -> dict[str, Any]:
    """The subscriber's history, newest first, and their make-ups, as the panel shows them
    (asked with the subscriber, or after the mentor's command, which checked the owner)."""
    reply, owed = await asyncio.gather(
        owners.ask(
            GetHistory(mentor_id=caller.user_id, subscription_id=subscription_id), HistoryReply
        ),
        makeups.listed(owners, ListMakeups(subscription_id=subscription_id)),
    )
    return {
        "history": list(reversed(reply.history)),
        "makeups": owed,
        "makeup_counts": makeups.counted(owed or []),
        "makeup_of": makeups.booked_sessions(owed),
    }


async def _panel(
    change: PageChange, command: Any, action: Action, view: View = "panel"
) -> HTMLResponse:
    """The subscriber after `command` (the detail page's panel, or the list's row),
    with what it did in words."""
    request, owners, caller, now = change.request, change.owners, change.caller, change.now
    try:
        reply = await owners.ask(command, SubscriberChanged)
        if reply.subscriber is None:
            return templates.TemplateResponse(request, "_subscriber_row.html", {"s": None})
        more = await (
            _row_makeups(owners, reply.subscriber.subscription_id)
            if view == "row"
            else _history(owners, caller, reply.subscriber.subscription_id)
        )
    except HTTPException as error:
        return fragment_error(request, error)
    subscriber = reply.subscriber
    starts_at = _session_acted_on(command, subscriber)
    reading = reading_of(request, subscriber.mentor_timezone)
    session = when(starts_at, reading.zone, named=False) if starts_at else ""
    done = what_happened(action, reply, session, getattr(command, "status", None) or "")
    if view == "row":
        return templates.TemplateResponse(
            request, "_subscriber_row.html", {"s": subscriber, "done": done, **more}
        )
    return templates.TemplateResponse(
        request,
        "_subscriber_panel.html",
        {"subscriber": subscriber, "now": now, "done": done, **more},
    )


def _session_acted_on(command: Any, subscriber: SubscriberDetail) -> datetime | None:
    """The start of the session a mark or an appeal decision was about."""
    booking_id = getattr(command, "booking_id", None)
    for b in subscriber.bookings:
        if booking_id is not None and booking_id in (b.booking_id, *b.replaces):
            return b.starts_at
    appeal_id = getattr(command, "appeal_id", None)
    return next((a.starts_at for a in subscriber.appeals if a.appeal_id == appeal_id), None)


@changes.post(
    "/subscribers/{subscription_id}/reactivate",
    summary="Reactivate (returns the updated subscriber panel, or the list's row with `view=row`)",
)
async def reactivate(
    subscription_id: UUID, change: MentorChange, view: Annotated[View, Form()] = "panel"
) -> HTMLResponse:
    command = mentor_commands.reactivate(change.caller.user_id, subscription_id, change.now)
    return await _panel(change, command, "reactivate", view)


@changes.post(
    "/subscribers/{subscription_id}/waive",
    summary="Waive a pending reprobation, with a reason (returns the updated subscriber panel)",
)
async def waive(
    subscription_id: UUID, change: MentorChange, reason: FormReason = ""
) -> HTMLResponse:
    with form_checked("Say why you waive it: a reason of one line is needed."):
        command = mentor_commands.waive(change.caller.user_id, subscription_id, reason, change.now)
    return await _panel(change, command, "waive")


@changes.post(
    "/appeals/{appeal_id}/{decision}",
    summary="Accept an appeal (the session becomes excused), or reject it with a reason "
    "(returns the updated subscriber panel)",
)
async def decide_appeal(
    appeal_id: UUID,
    decision: Literal["accept", "reject"],
    change: MentorChange,
    reason: FormReason = "",
) -> HTMLResponse:
    accept = decision == "accept"
    with form_checked(
        "A reason must be one line, without control characters."
        if accept
        else "Say why you reject it: a reason of one line is needed."
    ):
        command = mentor_commands.decide_appeal(
            change.caller.user_id,
            appeal_id,
            accept=accept,
            reason=reason.strip() or None,  # an empty field is no reason
            now=change.now,
        )
    return await _panel(change, command, decision)


@changes.post(
    "/bookings/{booking_id}/attendance",
    summary="Mark present, late, absent, excused or mentor no-show, with an optional "
    "reason (returns the updated subscriber panel)",
)
async def mark(
    booking_id: UUID,
    change: MentorChange,
    status: Annotated[MentorMarkStatus | None, Form()] = None,
    attended: Annotated[bool | None, Form()] = None,
    reason: FormReason = "",
) -> HTMLResponse:
    with form_checked():
        command = mentor_commands.mark(
            change.caller.user_id,
            booking_id,
            status=status,
            attended=attended,
            reason=reason.strip() or None,  # an empty field is no reason
            now=change.now,
        )
    return await _panel(change, command, "mark")


@changes.post(
    "/bookings/{booking_id}/attendance/clear",
    summary="Take back your mark of a session that has not started: it is not marked "
    "again (returns the updated subscriber panel)",
)
async def clear_mark(booking_id: UUID, change: MentorChange) -> HTMLResponse:
    command = mentor_commands.clear_mark(change.caller.user_id, booking_id, change.now)
    return await _panel(change, command, "clear")


# The refusals of a make-up's booking said by its field, in booking's own words.
MAKEUP_REFUSALS_IN_PLACE = {404, 409, 422}


@changes.post(
    "/subscribers/{subscription_id}/makeups/{missed_booking_id}",
    summary="Book the make-up owed for a missed session, starting at `starts_at` (the "
    "page's datetime-local field, read in `zone`, the zone the page shows times in); "
    "returns the updated subscriber panel, with a refusal said by the field",
)
async def schedule_makeup(
    subscription_id: UUID,
    missed_booking_id: UUID,
    change: MentorChange,
    starts_at: Annotated[str, Form(max_length=40)] = "",
    zone: Annotated[str, Form(max_length=64)] = "UTC",
) -> HTMLResponse:
    try:
        start = makeups.start_of(starts_at, zone)
    except ValueError:
        refused = "Give the make-up's date and its time of day."
        return await _makeup_panel(change, subscription_id, missed_booking_id, starts_at, refused)
    command = mentor_commands.schedule_makeup(
        change.caller.user_id, subscription_id, missed_booking_id, start, change.now
    )
    try:
        booked = await makeups.booked(change.owners, command)
    except HTTPException as error:
        if error.status_code not in MAKEUP_REFUSALS_IN_PLACE:
            return fragment_error(change.request, error)
        refused = _sentence(f"Not booked: {error.detail}")
        return await _makeup_panel(
            change, subscription_id, missed_booking_id, starts_at, refused, error.status_code
        )
    session = booked.booking
    done = (
        f"Make-up booked for {when(session.starts_at, zone, named=False)}."
        if session
        else "Make-up booked."
    )
    return await _makeup_panel(change, subscription_id, missed_booking_id, done=done)


def _sentence(words: str) -> str:
    return words if words.endswith((".", "!", "?")) else f"{words}."


async def _makeup_panel(
    change: PageChange,
    subscription_id: UUID,
    missed_booking_id: UUID,
    typed: str = "",
    refused: str = "",
    status_code: int = 422,
    *,
    done: str = "",
) -> HTMLResponse:
    """The subscriber's panel after a make-up was booked (`done`), or with the booking's
    refusal by the make-up's field and what was typed in it: the page swaps it in all
    the same (`X-Refused-In-Place`), the refusal's status kept."""
    try:
        context = await _subscriber(change.owners, change.caller, subscription_id, change.now)
    except HTTPException as error:
        return fragment_error(change.request, error)
    context |= {"done": done}
    if refused:
        context |= {"refused": {"missed": missed_booking_id, "words": refused, "typed": typed}}
    return templates.TemplateResponse(
        change.request,
        "_subscriber_panel.html",
        context,
        status_code=status_code if refused else 200,
        headers={"X-Refused-In-Place": "1"} if refused else None,
    )


router.include_router(changes)


def install(app: FastAPI) -> None:
    """Add the dashboard's routes, its static files and its error pages to `app`."""
    app.include_router(router)
    app.mount("/dashboard/static", StaticFiles(directory=HERE / "static"), name="dashboard-static")

    async def page_error(request: Request, error: Exception) -> HTMLResponse:
        assert isinstance(error, PageError)
        # The page's script posts with fetch() and shows a fragment; a plain form
        # post (a navigation, e.g. one another site sent) gets a whole page.
        navigating = request.headers.get("sec-fetch-mode") == "navigate"
        wants_fragment = request.method == "POST" and not navigating
        template = "_error.html" if wants_fragment else "message.html"
        return templates.TemplateResponse(
            request,
            template,
            {
                "heading": error.heading,
                "message": error.message,
                "sign_in": error.sign_in,
                "dev_sign_in": dev_sign_in_enabled(request.app.state.settings),
                "sign_in_next": request.url.path,
            },
            status_code=error.status_code,
        )

    app.add_exception_handler(PageError, page_error)

    async def invalid_form(request: Request, error: Exception) -> HTMLResponse:
        assert isinstance(error, InvalidForm)
        return templates.TemplateResponse(
            request, "_error.html", {"message": str(error)}, status_code=422
        )

    app.add_exception_handler(InvalidForm, invalid_form)

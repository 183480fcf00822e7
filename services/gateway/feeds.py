"""A person's calendar feed URL, as notifications keeps its token (see `calendar_feed`)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from fastapi import HTTPException, Request, status

from contracts.rpc import CalendarFeedToken, FeedRole, OpenCalendarFeed, ResetCalendarFeed
from services.gateway.auth import Caller
from services.gateway.owners import Owners
from services.kit.logs import get_logger

log = get_logger(__name__)


def holder(caller: Caller) -> FeedRole:
    """Whose feed: a mentee's sessions, or every session of a mentor's subscribers."""
    if caller.role == "mentee":
        return "mentee"
    if caller.role == "mentor":
        return "mentor"
    raise HTTPException(status.HTTP_403_FORBIDDEN, "only mentees and mentors have a calendar")


async def feed_url(request: Request, owners: Owners, caller: Caller) -> str:
    """The caller's feed URL, as this browser reached the gateway (made on first ask)."""
    reply = await owners.ask(
        OpenCalendarFeed(person_id=caller.user_id, role=holder(caller)), CalendarFeedToken
    )
    return url_of(request, reply)


async def feed_url_if_known(request: Request, owners: Owners, caller: Caller) -> str | None:
    """`feed_url`, or None while notifications does not answer: a page shows the rest."""
    try:
        return await feed_url(request, owners, caller)
    except HTTPException as error:
        log.warning("calendar feed unavailable", person_id=str(caller.user_id), error=error.detail)
        return None


async def new_feed_url(request: Request, owners: Owners, caller: Caller) -> str:
    """A new token for the caller's feed (the old URL answers 404 from now on)."""
    command = ResetCalendarFeed(request_id=uuid4(), person_id=caller.user_id, role=holder(caller))
    return url_of(request, await owners.ask(command, CalendarFeedToken))


def calendar_context(caller: Caller, url: str | None, said: str = "") -> dict[str, Any]:
    """What the pages' calendar section (`_calendar.html`) shows."""
    what = "your sessions" if caller.role == "mentee" else "your subscribers' sessions"
    return {"calendar_url": url, "calendar_what": what, "calendar_said": said}


def url_of(request: Request, reply: CalendarFeedToken) -> str:
    if reply.token is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "empty reply from notifications")
    return f"{str(request.base_url).rstrip('/')}/calendar/{reply.token}.ics"

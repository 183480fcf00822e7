"""Each person's private calendar feed: `/calendar/<token>.ics` holds their upcoming
sessions for a calendar app to subscribe to, without a cookie (the random token is the
key; notifications keeps it). The pages link it, and a person may reset the token,
after which the old URL answers 404 like any unknown one."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field

from contracts.rpc import CalendarFeed, GetCalendarFeed
from services.gateway.api import FORBIDDEN, UNAUTHORIZED, UNAVAILABLE
from services.gateway.auth import PUBLIC, Anyone, Caller, PageToken, page_caller_of
from services.gateway.dashboard import (
    CHANGE_REFUSED,
    PageError,
    error_words,
    fragment_error,
    refuse_forgery,
    templates,
)
from services.gateway.dependencies import Now, OwnersDep
from services.gateway.feeds import calendar_context, feed_url, new_feed_url

router = APIRouter(tags=["calendar"])

# What notifications makes (secrets.token_urlsafe(24)); anything else is not asked about.
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
ICS = "text/calendar; charset=utf-8"


@router.get(
    "/calendar/{token}.ics",
    summary="A person's calendar feed: every upcoming session, for a calendar app (no cookie)",
    response_class=Response,
    responses={
        200: {"content": {"text/calendar": {"schema": {"type": "string"}}}},
        404: {"description": "no such feed (never was, or its token was reset)"},
        503: {"description": "notifications did not answer in time"},
    },
    # No credential: the random token in the path is the key (a calendar app sends no cookie).
    openapi_extra=PUBLIC,
)
async def calendar_feed(token: str, owners: OwnersDep, now: Now) -> Response:
    if not TOKEN.fullmatch(token):
        return _not_found()
    reply = await owners.ask_raw(GetCalendarFeed(token=token, now=now), CalendarFeed)
    if reply.error is not None or reply.ics is None:
        return _not_found()
    return Response(
        reply.ics,
        media_type=ICS,
        # A calendar app polls it; the URL is a secret, so no shared cache keeps it.
        headers={"Cache-Control": "private, max-age=300", "X-Robots-Tag": "noindex"},
    )


def _not_found() -> Response:
    """The same for a token that never was and one that was reset: it tells nothing."""
    return PlainTextResponse("Not Found", status_code=status.HTTP_404_NOT_FOUND)


async def changing_person(request: Request, token: PageToken) -> Caller:
    await refuse_forgery(request)
    try:
        return page_caller_of(request, token)
    except HTTPException as error:
        raise PageError(401, "Please sign in", str(error.detail), sign_in=True) from error


@router.post(
    "/dashboard/mentorship/calendar/reset",
    response_class=HTMLResponse,
    summary="A new calendar feed URL; the old one answers 404 (returns the calendar section)",
    responses=CHANGE_REFUSED,
)
async def reset_feed(
    request: Request, caller: Annotated[Caller, Depends(changing_person)], owners: OwnersDep
) -> HTMLResponse:
    try:
        url = await new_feed_url(request, owners, caller)
    except HTTPException as error:
        return fragment_error(request, error, error_words(error))
    said = (
        "Your calendar has a new link: the old one no longer works. Subscribe again with this one."
    )
    return templates.TemplateResponse(
        request, "_calendar.html", calendar_context(caller, url, said)
    )


class FeedLink(BaseModel):
    url: str = Field(
        description="the caller's private feed: subscribe to it in a calendar app",
        examples=["https://mentors.example/calendar/3q2Rj0sCSe8u3FvRZbZ5r7x4yEoQnhAd.ics"],
    )


@router.get(
    "/api/calendar",
    summary="The caller's calendar feed URL (mentee: their sessions; mentor: every "
    "subscriber's), made on first ask",
    response_model=FeedLink,
    responses={401: UNAUTHORIZED, 403: FORBIDDEN, 503: UNAVAILABLE},
)
async def calendar_link(request: Request, caller: Anyone, owners: OwnersDep) -> FeedLink:
    return FeedLink(url=await feed_url(request, owners, caller))


@router.post(
    "/api/calendar/reset",
    summary="A new calendar feed URL for the caller; the old one answers 404 from now on",
    response_model=FeedLink,
    responses={401: UNAUTHORIZED, 403: FORBIDDEN, 503: UNAVAILABLE},
)
async def reset_calendar_link(request: Request, caller: Anyone, owners: OwnersDep) -> FeedLink:
    return FeedLink(url=await new_feed_url(request, owners, caller))

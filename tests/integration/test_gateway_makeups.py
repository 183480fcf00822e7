"""Make-up sessions over the gateway's HTTP edge, with booking and attendance replaced by a
fake that records every question: the mentor's API lists and books them, the subscriber's
page says each in words with a form to book one owed, and the mentee's page says what
they are owed and labels a make-up among their sessions.

The mentor reads in Sao Paulo time (their own zone); the mentee reads in Lisbon time,
their slot's. The missed session started Tue 01 Dec 2026, 18:00 in Sao Paulo (21:00 UTC).
"""

from __future__ import annotations

import asyncio
import html
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from contracts.rpc import (
    BookingAttendance,
    GetHistory,
    GetMenteeStanding,
    GetSubscriber,
    HistoryLine,
    HistoryMakeup,
    HistoryReply,
    ListMakeups,
    ListSubscribers,
    Makeup,
    MakeupBooking,
    MakeupScheduled,
    MakeupsReply,
    MenteeStandingReply,
    ReactivateMentee,
    Reply,
    Request,
    RpcError,
    ScheduleMakeup,
    SubscriberChanged,
    SubscriberDetail,
    SubscriberReply,
    SubscribersReply,
)
from services.gateway.app import create_app
from services.gateway.auth import issue_token
from services.gateway.dependencies import get_now, get_owners
from services.gateway.makeups import step_words
from services.gateway.owners import OwnerUnavailable, error_response
from services.gateway.security import csrf_token
from services.kit.settings import Settings

SECRET = "a-production-secret-of-sufficient-length-0123456789"
BASE = "http://gateway.test"
NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
MENTOR = UUID("0e3f2f0d-2c7e-4b55-8f1e-6f4b1d2c3a22")
MENTEE = UUID("6d1b6c2e-46b1-4f0e-9b8e-0a4c3f4f9a11")
SUBSCRIPTION = UUID("7d1c8a52-4d0b-4a7e-9c1e-3b5f2a6d8e91")
MISSED = UUID("5a2b9c7e-1f3d-4e6a-8b0c-9d7e6f5a4b32")
MISSED_AT = datetime(2026, 12, 1, 21, tzinfo=UTC)  # 18:00 in Sao Paulo, 21:00 in Lisbon
MAKEUP_BOOKING = UUID("3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f")
MAKEUP_AT = datetime(2026, 12, 8, 22, tzinfo=UTC)  # 19:00 in Sao Paulo, 22:00 in Lisbon
FORM = f"/dashboard/mentorship/subscribers/{SUBSCRIPTION}/makeups/{MISSED}"
API = f"/api/mentor/subscribers/{SUBSCRIPTION}/makeups"


def makeup(
    status: str = "owed",
    missed: UUID = MISSED,
    days_before: int = 0,
    subscription: UUID = SUBSCRIPTION,
) -> Makeup:
    """A make-up of `subscription` for the session missed `days_before` MISSED_AT; booked
    at MAKEUP_AT when its status says it has a booking."""
    missed_at = MISSED_AT - timedelta(days=days_before)
    booking = (
        MakeupBooking(
            booking_id=MAKEUP_BOOKING,
            starts_at=MAKEUP_AT,
            ends_at=MAKEUP_AT + timedelta(hours=1),
            status="scheduled" if status == "booked" else "attended",
        )
        if status in ("booked", "used")
        else None
    )
    return Makeup(
        missed_booking_id=missed,
        subscription_id=subscription,
        missed_starts_at=missed_at,
        missed_ends_at=missed_at + timedelta(hours=1),
        status=status,  # type: ignore[arg-type]
        owed_at=missed_at + timedelta(hours=2),
        changed_at=missed_at + timedelta(hours=2),
        book_by=missed_at + timedelta(days=14),
        booking=booking,
    )


def one_of_each() -> list[Makeup]:
    """A make-up of each status, a week apart, the one owed for the session MISSED."""
    return [
        makeup("owed"),
        makeup("booked", uuid.uuid4(), days_before=7),
        makeup("used", uuid.uuid4(), days_before=14),
        makeup("withdrawn", uuid.uuid4(), days_before=21),
        makeup("expired", uuid.uuid4(), days_before=28),
    ]


def subscriber(*, with_makeup_session: bool = False) -> SubscriberDetail:
    bookings = [
        BookingAttendance(
            booking_id=MISSED,
            starts_at=MISSED_AT,
            ends_at=MISSED_AT + timedelta(hours=1),
            cancelled=False,
            status="mentor_no_show",
            marked_by="mentor",
            marked_at=MISSED_AT + timedelta(hours=2),
        )
    ]
    if with_makeup_session:
        bookings.append(
            BookingAttendance(
                booking_id=MAKEUP_BOOKING,
                starts_at=MAKEUP_AT,
                ends_at=MAKEUP_AT + timedelta(hours=1),
                cancelled=False,
            )
        )
    return SubscriberDetail(
        subscription_id=SUBSCRIPTION,
        mentee_id=MENTEE,
        mentee_name="Maria Lima",
        mentee_email="maria@example.com",
        absences=0,
        consecutive_absences=0,
        is_reprobated=False,
        status="active",
        upcoming_bookings=1,
        timezone="Europe/Lisbon",
        mentor_timezone="America/Sao_Paulo",
        cycle_starts_at=MISSED_AT - timedelta(days=7),
        cycle_ends_at=MISSED_AT + timedelta(days=21),
        bookings=bookings,
    )


@dataclass
class FakeOwners:
    """Booking's and attendance's answers, each refusal or silence as asked of it."""

    makeups: list[Makeup] = field(default_factory=list)
    refusals: dict[type[Request], RpcError] = field(default_factory=dict)
    silent: set[type[Request]] = field(default_factory=set)
    booked_session: bool = False
    history: list[HistoryLine] = field(default_factory=list)
    asked: list[Request] = field(default_factory=list)
    # Attendance's list of the mentor's subscribers.
    listed: list[SubscriberDetail] = field(default_factory=list)
    mentors_makeups_asked: asyncio.Event = field(default_factory=asyncio.Event)

    async def ask(self, request: Request, reply_type: type[Reply]) -> Any:
        self.asked.append(request)
        if isinstance(request, ListMakeups) and request.mentor_id is not None:
            self.mentors_makeups_asked.set()
        if isinstance(request, ListSubscribers):
            # Attendance answers only once booking is asked too: a list that asked booking
            # after attendance's answer would wait here, and fail.
            await asyncio.wait_for(self.mentors_makeups_asked.wait(), 2)
            return SubscribersReply(subscribers=self.listed, mentor_timezone="America/Sao_Paulo")
        if type(request) in self.silent:
            raise OwnerUnavailable(f"the {request.owner} service did not answer within 5 s")
        if type(request) in self.refusals:
            raise error_response(self.refusals[type(request)])
        if isinstance(request, GetSubscriber):
            return SubscriberReply(subscriber=subscriber(with_makeup_session=self.booked_session))
        if isinstance(request, GetHistory):
            return HistoryReply(timezone="Europe/Lisbon", history=self.history)
        if isinstance(request, ListMakeups):
            of = request.subscription_id
            return MakeupsReply(
                makeups=[m for m in self.makeups if of in (None, m.subscription_id)]
            )
        if isinstance(request, ReactivateMentee):
            return SubscriberChanged(subscriber=subscriber())
        if isinstance(request, GetMenteeStanding):
            return MenteeStandingReply(
                subscriptions=[subscriber(with_makeup_session=self.booked_session)]
            )
        if isinstance(request, ScheduleMakeup):
            booked = makeup("booked").model_copy(
                update={
                    "booking": MakeupBooking(
                        booking_id=MAKEUP_BOOKING,
                        starts_at=request.starts_at,
                        ends_at=request.starts_at + timedelta(hours=1),
                        status="scheduled",
                    )
                }
            )
            return MakeupScheduled(makeup=booked)
        raise OwnerUnavailable(f"the {request.owner} service cannot be reached")

    def of(self, kind: type[Request]) -> list[Any]:
        return [r for r in self.asked if isinstance(r, kind)]


@pytest_asyncio.fixture(loop_scope="session")
async def gateway() -> AsyncIterator[tuple[httpx.AsyncClient, FakeOwners]]:
    app: FastAPI = create_app(Settings(jwt_secret=SECRET))
    owners = FakeOwners()
    app.dependency_overrides[get_owners] = lambda: owners
    app.dependency_overrides[get_now] = lambda: NOW
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE) as http:
        yield http, owners


def token(role: str, person: UUID) -> str:
    return issue_token(SECRET, person, role, datetime.now(UTC) + timedelta(hours=1))  # type: ignore[arg-type]


def bearer(role: str = "mentor", person: UUID = MENTOR) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role, person)}"}


def signed_in(
    http: httpx.AsyncClient, role: str = "mentor", person: UUID = MENTOR
) -> dict[str, str]:
    """The session cookie of `person`; returns the headers the page's script posts with."""
    session = token(role, person)
    http.cookies.set("session", session, domain="gateway.test")
    return {"X-CSRF-Token": csrf_token(SECRET, session), "Sec-Fetch-Mode": "cors"}


def text(html: str) -> str:
    """The page's words, tags and runs of spaces gone (inline tags without a space)."""
    inline = re.sub(r"</?(strong|span|small|q)\b[^>]*>", "", html)
    return " ".join(re.sub(r"<[^>]+>", " ", inline).split())


# ---- the API ---------------------------------------------------------------------------


async def test_the_api_lists_a_subscribers_makeups_once_attendance_says_they_are_the_mentors(
    gateway: tuple[httpx.AsyncClient, FakeOwners],
) -> None:
    http, owners = gateway
    owners.makeups = [makeup("owed"), makeup("booked", uuid.uuid4(), days_before=7)]
    response = await http.get(API, headers=bearer())
    assert response.status_code == 200, response.text
    listed = [Makeup.model_validate(m) for m in response.json()["makeups"]]
    assert listed == owners.makeups
    [own] = owners.of(GetSubscriber)
    assert (own.mentor_id, own.subscription_id) == (MENTOR, SUBSCRIPTION)
    [asked] = owners.of(ListMakeups)
    assert (asked.subscription_id, asked.mentee_id) == (SUBSCRIPTION, None)


@pytest.mark.parametrize(
    ("code", "status"), [("forbidden", 403), ("not_found", 404)], ids=["not-theirs", "unknown"]
)
async def test_the_api_shows_no_makeup_of_a_subscription_that_is_not_the_mentors(
    gateway: tuple[httpx.AsyncClient, FakeOwners], code: str, status: int
) -> None:
    http, owners = gateway
    owners.makeups = [makeup("owed")]
    owners.refusals[GetSubscriber] = RpcError(
        code=code, detail="this mentee is not your subscriber"
    )  # type: ignore[arg-type]
    response = await http.get(API, headers=bearer())
    assert response.status_code == status
    assert response.json() == {"detail": "this mentee is not your subscriber"}
    assert str(MISSED) not in response.text


async def test_the_api_books_a_makeup_and_answers_201_with_it(
    gateway: tuple[httpx.AsyncClient, FakeOwners],
) -> None:
    http, owners = gateway
    body = {"missed_booking_id": str(MISSED), "starts_at": "2026-12-08T19:00:00-03:00"}
    response = await http.post(API, json=body, headers=bearer())
    assert response.status_code == 201, response.text
    booked = Makeup.model_validate(response.json())
    assert booked.status == "booked" and booked.booking is not None
    assert booked.booking.starts_at == MAKEUP_AT
    [command] = owners.of(ScheduleMakeup)
    assert (command.mentor_id, command.subscription_id, command.missed_booking_id) == (
        MENTOR,
        SUBSCRIPTION,
        MISSED,
    )
    assert (command.starts_at, command.requested_at) == (MAKEUP_AT, NOW)


@pytest.mark.parametrize(
    ("code", "status", "detail"),
    [
        ("not_found", 404, "no make-up is owed for that session"),
        ("forbidden", 403, "this subscription is not yours"),
        ("conflict", 409, "clashes with your session with Ana Souza on Tue 08 Dec 2026, 19:00"),
        ("invalid", 422, "the make-up must start by Tue 15 Dec 2026, 18:00 (Sao Paulo)"),
    ],
    ids=["nothing-owed", "not-theirs", "clash", "too-late"],
)
async def test_the_api_answers_bookings_refusal_with_its_status_and_words(
    gateway: tuple[httpx.AsyncClient, FakeOwners], code: str, status: int, detail: str
) -> None:
    http, owners = gateway
    owners.refusals[ScheduleMakeup] = RpcError(code=code, detail=detail)  # type: ignore[arg-type]
    body = {"missed_booking_id": str(MISSED), "starts_at": "2026-12-08T19:00:00-03:00"}
    response = await http.post(API, json=body, headers=bearer())
    assert response.status_code == status
    assert response.json() == {"detail": detail}


@pytest.mark.parametrize(
    "body",
    [
        {"missed_booking_id": str(MISSED), "starts_at": "2026-12-08T19:00:00"},  # no offset
        {"missed_booking_id": "not-an-id", "starts_at": "2026-12-08T19:00:00Z"},
        {"starts_at": "2026-12-08T19:00:00Z"},
        {"missed_booking_id": str(MISSED), "starts_at": "2026-12-08T19:00:00Z", "extra": 1},
    ],
    ids=["naive", "bad-id", "no-missed", "extra"],
)
async def test_a_malformed_booking_is_422_and_asks_nothing(
    gateway: tuple[httpx.AsyncClient, FakeOwners], body: dict[str, Any]
) -> None:
    http, owners = gateway
    response = await http.post(API, json=body, headers=bearer())
    assert response.status_code == 422
    assert owners.asked == []


async def test_only_a_mentor_books_a_makeup(gateway: tuple[httpx.AsyncClient, FakeOwners]) -> None:
    http, owners = gateway
    body = {"missed_booking_id": str(MISSED), "starts_at": "2026-12-08T19:00:00Z"}
    response = await http.post(API, json=body, headers=bearer("mentee", MENTEE))
    assert response.status_code == 403
    assert owners.asked == []


# ---- the mentor's subscriber page -------------------------------------------------------


async def test_the_subscriber_page_says_each_makeup_in_words_in_the_mentors_zone(
    gateway: tuple[httpx.AsyncClient, FakeOwners],
) -> None:
    http, owners = gateway
    signed_in(http)
    owners.makeups = one_of_each()
    page = await http.get(f"/dashboard/mentorship/subscribers/{SUBSCRIPTION}")
    assert page.status_code == 200, page.text
    words = text(page.text)
    assert "Make-up sessions" in words
    # Oldest missed session first; each time in Sao Paulo time, as the page says.
    assert "Times are Sao Paulo time (America/Sao_Paulo), your time zone." in words
    expected = [
        "The session of Tue 03 Nov 2026, 18:00: expired (it was not booked by "
        "Tue 17 Nov 2026, 18:00)",
        "The session of Tue 10 Nov 2026, 18:00: withdrawn (you did attend)",
        "The session of Tue 17 Nov 2026, 18:00: used (the make-up of Tue 08 Dec 2026, 19:00)",
        "The session of Tue 24 Nov 2026, 18:00: booked for Tue 08 Dec 2026, 19:00",
        "The session of Tue 01 Dec 2026, 18:00: owed — book by Tue 15 Dec 2026, 18:00",
    ]
    positions = [words.index(line) for line in expected]
    assert positions == sorted(positions)
    # A form for the one owed only: its bounds in the page's zone, its length said.
    assert page.text.count('class="makeup-form"') == 1
    assert f'action="{FORM}"' in page.text
    assert 'type="datetime-local"' in page.text
    assert 'min="2026-12-06T09:00" max="2026-12-15T18:00"' in page.text
    assert '<input type="hidden" name="zone" value="America/Sao_Paulo">' in page.text
    assert "Make-up starts (Sao Paulo time)" in words
    assert (
        "It lasts 1 hour, like the missed session, and must start by Tue 15 Dec 2026, 18:00 "
        "at the latest." in words
    )


def step(status: str, at: datetime, **said: Any) -> HistoryLine:
    """A make-up's line of the history, about the missed session, as attendance answers."""
    return HistoryLine(
        kind="makeup",
        at=at,
        actor="mentor" if status == "booked" else "system",
        actor_id=MENTOR if status == "booked" else None,
        booking_id=MISSED,
        session_starts_at=MISSED_AT,
        new_status=status,
        reason=f"the words attendance keeps, in UTC ({status})",
        makeup=HistoryMakeup(**said),
    )


MAKEUP_STEPS = [
    step("owed", MISSED_AT + timedelta(hours=2)),
    step("withdrawn", MISSED_AT + timedelta(hours=3)),
    step("owed", MISSED_AT + timedelta(hours=4), again=True),
    step("booked", MISSED_AT + timedelta(hours=5), booking_id=MAKEUP_BOOKING, starts_at=MAKEUP_AT),
    step(
        "used",
        MAKEUP_AT + timedelta(hours=1),
        booking_id=MAKEUP_BOOKING,
        starts_at=MAKEUP_AT,
        mark="present",
    ),
    step("expired", MISSED_AT + timedelta(days=14), book_by=MISSED_AT + timedelta(days=14)),
    step("refunded", MISSED_AT + timedelta(days=14, minutes=5), amount=1500, currency="eur"),
]


async def test_the_subscriber_history_says_each_step_of_a_makeup_in_the_mentors_words_and_zone(
    gateway: tuple[httpx.AsyncClient, FakeOwners],
) -> None:
    http, owners = gateway
    signed_in(http)
    owners.history = MAKEUP_STEPS
    page = await http.get(f"/dashboard/mentorship/subscribers/{SUBSCRIPTION}")
    assert page.status_code == 200, page.text
    table = page.text.split('<table class="history">', 1)[1].split("</table>", 1)[0]
    rows = [html.unescape(text(row)) for row in table.split("<tr class=")[1:]]
    missed = "Tue 01 Dec 2026, 18:00"  # in Sao Paulo, the mentor's zone
    # Newest first: when (Sao Paulo time), what, the missed session, by whom; the reason
    # attendance keeps (in UTC) is not repeated beside the words.
    assert rows == [
        f'"history-makeup"> Tue 15 Dec 2026, 18:05 €15.00 credited to the mentee\'s balance '
        f"{missed} the system",
        f'"history-makeup"> Tue 15 Dec 2026, 18:00 make-up expired: not booked by '
        f"Tue 15 Dec 2026, 18:00 {missed} the system",
        f'"history-makeup"> Tue 08 Dec 2026, 20:00 make-up held: present {missed} the system',
        f'"history-makeup"> Tue 01 Dec 2026, 23:00 you booked the make-up for '
        f"Tue 08 Dec 2026, 19:00 {missed} you",
        f'"history-makeup"> Tue 01 Dec 2026, 22:00 make-up owed again for the session of '
        f"{missed} {missed} the system",
        f'"history-makeup"> Tue 01 Dec 2026, 21:00 make-up withdrawn: you did attend the '
        f"session of {missed} {missed} the system",
        f'"history-makeup"> Tue 01 Dec 2026, 20:00 make-up owed for the session of {missed} '
        f"{missed} the system",
    ]
    assert "the words attendance keeps" not in table


async def test_the_apis_history_lists_the_makeup_steps_with_what_each_says(
    gateway: tuple[httpx.AsyncClient, FakeOwners],
) -> None:
    http, owners = gateway
    owners.history = MAKEUP_STEPS
    response = await http.get(f"/api/mentor/subscribers/{SUBSCRIPTION}/history", headers=bearer())
    assert response.status_code == 200, response.text
    lines = response.json()["history"]
    assert [(h["kind"], h["new_status"], h["booking_id"]) for h in lines] == [
        ("makeup", s, str(MISSED))
        for s in ("owed", "withdrawn", "owed", "booked", "used", "expired", "refunded")
    ]
    assert lines[3]["makeup"]["starts_at"] == "2026-12-08T22:00:00Z"
    refunded = lines[6]["makeup"]
    assert (refunded["amount"], refunded["currency"]) == (1500, "eur")
    assert lines[6]["reason"] == "the words attendance keeps, in UTC (refunded)"


async def test_a_makeup_session_is_labelled_in_the_bookings_table(
    gateway: tuple[httpx.AsyncClient, FakeOwners],
) -> None:
    http, owners = gateway
    signed_in(http)
    owners.makeups, owners.booked_session = [makeup("booked")], True
    page = await http.get(f"/dashboard/mentorship/subscribers/{SUBSCRIPTION}")
    [row] = re.findall(rf'<tr data-booking="{MAKEUP_BOOKING}".*?</tr>', page.text, re.S)
    assert "Make-up for the missed session of Tue 01 Dec 2026, 18:00" in text(row)
    [missed] = re.findall(rf'<tr data-booking="{MISSED}".*?</tr>', page.text, re.S)
    assert "Make-up for" not in missed


async def test_without_makeups_the_page_shows_no_part_for_them_and_says_when_booking_is_silent(
    gateway: tuple[httpx.AsyncClient, FakeOwners],
) -> None:
    http, owners = gateway
    signed_in(http)
    page = await http.get(f"/dashboard/mentorship/subscribers/{SUBSCRIPTION}")
    assert page.status_code == 200
    assert "Make-up" not in page.text and "makeup" not in page.text

    owners.silent.add(ListMakeups)
    page = await http.get(f"/dashboard/mentorship/subscribers/{SUBSCRIPTION}")
    assert page.status_code == 200  # the rest of the page still shows
    assert "Make-up sessions cannot be shown just now" in page.text
    assert "Maria Lima" in page.text


async def test_the_form_books_the_start_typed_read_in_the_pages_zone_and_says_so(
    gateway: tuple[httpx.AsyncClient, FakeOwners],
) -> None:
    http, owners = gateway
    headers = signed_in(http)
    owners.makeups = [makeup("owed")]
    form = {"starts_at": "2026-12-08T19:00", "zone": "America/Sao_Paulo"}
    response = await http.post(FORM, data=form, headers=headers)
    assert response.status_code == 200, response.text
    assert "x-refused-in-place" not in response.headers
    [command] = owners.of(ScheduleMakeup)
    assert command.starts_at == MAKEUP_AT  # 19:00 in Sao Paulo is 22:00 UTC
    assert (command.mentor_id, command.subscription_id, command.missed_booking_id) == (
        MENTOR,
        SUBSCRIPTION,
        MISSED,
    )
    assert "<p data-done hidden>Make-up booked for Tue 08 Dec 2026, 19:00.</p>" in response.text
    assert response.text.lstrip().startswith('<section id="subscriber"')


@pytest.mark.parametrize(
    ("code", "status", "detail", "says"),
    [
        (
            "conflict",
            409,
            "clashes with your session with Ana Souza on Tue 08 Dec 2026, 19:00 (Sao Paulo)",
            "Not booked: clashes with your session with Ana Souza on Tue 08 Dec 2026, 19:00 "
            "(Sao Paulo).",
        ),
        (
            "invalid",
            422,
            "the make-up must start by Tue 15 Dec 2026, 18:00 (Sao Paulo).",
            "Not booked: the make-up must start by Tue 15 Dec 2026, 18:00 (Sao Paulo).",
        ),
        (
            "not_found",
            404,
            "no make-up is owed for that session",
            "Not booked: no make-up is owed for that session.",
        ),
    ],
    ids=["clash", "too-late", "nothing-owed"],
)
async def test_a_refusal_is_said_by_the_field_with_what_was_typed(
    gateway: tuple[httpx.AsyncClient, FakeOwners], code: str, status: int, detail: str, says: str
) -> None:
    http, owners = gateway
    headers = signed_in(http)
    owners.makeups = [makeup("owed")]
    owners.refusals[ScheduleMakeup] = RpcError(code=code, detail=detail)  # type: ignore[arg-type]
    form = {"starts_at": "2026-12-08T19:00", "zone": "America/Sao_Paulo"}
    response = await http.post(FORM, data=form, headers=headers)
    assert response.status_code == status
    assert response.headers["x-refused-in-place"] == "1"
    assert response.text.lstrip().startswith('<section id="subscriber"')
    [field_] = re.findall(r'<input type="datetime-local"[^>]*>', response.text)
    assert 'value="2026-12-08T19:00"' in field_ and 'aria-invalid="true"' in field_
    # Beside it, the time typed as the page writes times.
    assert f'id="makeup-chosen-{MISSED}">Tue 08 Dec 2026, 19:00</span>' in response.text
    assert f"makeup-error-{MISSED}" in field_  # described by the error
    error = f'<p class="error field-error" id="makeup-error-{MISSED}" role="alert">{says}</p>'
    assert error in response.text
    assert "data-done" not in response.text


@pytest.mark.parametrize(
    "form",
    [
        {"starts_at": "", "zone": "America/Sao_Paulo"},
        {"starts_at": "next tuesday", "zone": "America/Sao_Paulo"},
        {"starts_at": "2026-12-08T19:00", "zone": "Mars/Olympus_Mons"},
    ],
    ids=["empty", "not-a-time", "unknown-zone"],
)
async def test_a_start_that_is_not_a_time_is_said_by_the_field_and_books_nothing(
    gateway: tuple[httpx.AsyncClient, FakeOwners], form: dict[str, str]
) -> None:
    http, owners = gateway
    headers = signed_in(http)
    owners.makeups = [makeup("owed")]
    response = await http.post(FORM, data=form, headers=headers)
    assert response.status_code == 422
    assert response.headers["x-refused-in-place"] == "1"
    assert "Give the make-up&#39;s date and its time of day." in response.text
    assert owners.of(ScheduleMakeup) == []


async def test_a_silent_booking_service_is_said_in_the_notice(
    gateway: tuple[httpx.AsyncClient, FakeOwners],
) -> None:
    http, owners = gateway
    headers = signed_in(http)
    owners.silent.add(ScheduleMakeup)
    form = {"starts_at": "2026-12-08T19:00", "zone": "America/Sao_Paulo"}
    response = await http.post(FORM, data=form, headers=headers)
    assert response.status_code == 503
    assert "x-refused-in-place" not in response.headers
    assert response.text.startswith('<p class="error" role="alert">The service is busy')


# ---- the mentee's page -----------------------------------------------------------------


async def test_the_mentee_reads_what_is_owed_and_when_it_is_booked_in_their_slots_zone(
    gateway: tuple[httpx.AsyncClient, FakeOwners],
) -> None:
    http, owners = gateway
    signed_in(http, "mentee", MENTEE)
    owners.makeups = [
        makeup("owed"),
        makeup("booked", uuid.uuid4(), days_before=7),
        makeup("withdrawn", uuid.uuid4(), days_before=14),
    ]
    owners.booked_session = True
    page = await http.get("/dashboard/mentorship/bookings")
    assert page.status_code == 200, page.text
    words = text(page.text)
    assert (
        "Your mentor missed the session of Tue 24 Nov 2026, 21:00: the make-up session is "
        "booked for Tue 08 Dec 2026, 22:00." in words
    )
    assert (
        "Your mentor missed the session of Tue 01 Dec 2026, 21:00: a make-up session is owed, "
        "to be booked by Tue 15 Dec 2026, 21:00." in words
    )
    assert "Tue 17 Nov 2026" not in words  # withdrawn: the mentor came after all
    [asked] = owners.of(ListMakeups)
    assert (asked.mentee_id, asked.subscription_id) == (MENTEE, None)
    [row] = re.findall(rf'<tr data-booking-id="{MAKEUP_BOOKING}".*?</tr>', page.text, re.S)
    assert "Make-up for the missed session of Tue 24 Nov 2026, 21:00" in text(row)


async def test_the_mentees_page_shows_without_makeups_when_booking_is_silent(
    gateway: tuple[httpx.AsyncClient, FakeOwners],
) -> None:
    http, owners = gateway
    signed_in(http, "mentee", MENTEE)
    owners.silent.add(ListMakeups)
    page = await http.get("/dashboard/mentorship/bookings")
    assert page.status_code == 200
    assert "Make-up sessions owed to you cannot be shown just now" in page.text
    assert "Your sessions" in page.text


def test_a_makeup_cancelled_late_and_a_step_without_its_detail_are_said_plainly() -> None:
    late = step("used", MAKEUP_AT, booking_id=MAKEUP_BOOKING, mark="cancelled_late")
    assert step_words(late, "America/Sao_Paulo") == "make-up used: the mentee cancelled it late"
    bare = step("booked", MAKEUP_AT).model_copy(update={"makeup": None})
    assert step_words(bare, "America/Sao_Paulo") == "make-up booked"


# ---- the make-ups counted: the list, its rows, the subscriber's page, the API -----------

OTHER = UUID("8e2d9b63-5e1c-4b8f-a02f-4c6a3b7e9fa2")
ENDED = UUID("9f3eac74-6f2d-4c90-b13a-5d7b4c8fa0b3")  # a subscription the list does not show
LIST = "/dashboard/mentorship/subscribers"


def counted_world(owners: FakeOwners, headers: dict[str, str] | None = None) -> dict[str, str]:
    """Maria owes one of each status; João two owed (the first by Sat 12 Dec, 18:00 in
    Sao Paulo) and one held; a subscription not listed, one expired. Returns `headers`
    (the signed-in mentor's, to post with)."""
    joao = subscriber().model_copy(
        update={"subscription_id": OTHER, "mentee_name": "João Silva", "mentee_email": "j@x.org"}
    )
    owners.listed = [subscriber(), joao]
    owners.makeups = [
        *one_of_each(),
        makeup("owed", uuid.uuid4(), days_before=1, subscription=OTHER),
        makeup("owed", uuid.uuid4(), days_before=3, subscription=OTHER),
        makeup("used", uuid.uuid4(), days_before=10, subscription=OTHER),
        makeup("expired", uuid.uuid4(), days_before=30, subscription=ENDED),
    ]
    return headers or {}


def row_of(html: str, subscription: UUID) -> str:
    [row] = re.findall(rf'<tr data-subscription="{subscription}".*?</tr>', html, re.S)
    return row


async def test_the_list_counts_each_rows_makeups_and_the_totals_asking_booking_with_attendance(
    gateway: tuple[httpx.AsyncClient, FakeOwners],
) -> None:
    http, owners = gateway
    counted_world(owners, signed_in(http))
    page = await http.get(LIST)
    assert page.status_code == 200, page.text
    # One question to booking for all the mentor's make-ups, asked while attendance's
    # list was awaited (the fake's attendance answers only then).
    [asked] = owners.of(ListMakeups)
    assert (asked.mentor_id, asked.subscription_id, asked.mentee_id) == (MENTOR, None, None)
    words = text(page.text)
    assert (
        "Make-ups you owe: 3 to book, 1 booked, 2 held, 2 expired (the first to book by "
        "Sat 12 Dec 2026, 18:00)" in words
    )
    maria = row_of(page.text, SUBSCRIPTION)
    assert "Make-ups: 1 owed (book by Tue 15 Dec), 1 booked, 1 held, 1 expired" in text(maria)
    assert f'href="{LIST}/{SUBSCRIPTION}#makeups-heading"' in maria  # one to book: a link
    joao = row_of(page.text, OTHER)
    assert "Make-ups: 2 owed (the first by Sat 12 Dec), 1 held" in text(joao)
    assert "withdrawn" not in words and "cannot be counted" not in words


async def test_the_list_says_no_counts_when_nothing_is_counted_and_when_booking_is_silent(
    gateway: tuple[httpx.AsyncClient, FakeOwners],
) -> None:
    http, owners = gateway
    counted_world(owners, signed_in(http))
    owners.makeups = [makeup("withdrawn")]  # the mentor came after all: nothing owed
    page = await http.get(LIST)
    assert page.status_code == 200, page.text
    assert "Make-ups" not in page.text and "makeup" not in page.text

    owners.silent.add(ListMakeups)
    page = await http.get(LIST)
    assert page.status_code == 200, page.text  # the list shows all the same
    words = text(page.text)
    assert (
        "Make-ups cannot be counted just now: the booking service did not answer. "
        "Reload the page in a moment." in words
    )
    assert "Maria Lima" in words and "João Silva" in words
    assert words.count("cannot be counted") == 1  # said once, above the rows


async def test_a_row_shown_alone_counts_its_makeups_and_says_when_booking_is_silent(
    gateway: tuple[httpx.AsyncClient, FakeOwners],
) -> None:
    http, owners = gateway
    headers = counted_world(owners, signed_in(http))
    row = await http.get(f"{LIST}/{SUBSCRIPTION}/row")
    assert row.status_code == 200, row.text
    assert "Make-ups: 1 owed (book by Tue 15 Dec), 1 booked, 1 held, 1 expired" in text(row.text)
    assert [(a.subscription_id, a.mentor_id) for a in owners.of(ListMakeups)] == [
        (SUBSCRIPTION, None)
    ]
    # The row a reactivation sends back keeps its make-ups.
    reactivated = await http.post(
        f"{LIST}/{SUBSCRIPTION}/reactivate", data={"view": "row"}, headers=headers
    )
    assert reactivated.status_code == 200, reactivated.text
    assert "Make-ups: 1 owed (book by Tue 15 Dec)" in text(reactivated.text)

    owners.silent.add(ListMakeups)
    row = await http.get(f"{LIST}/{SUBSCRIPTION}/row")
    assert row.status_code == 200, row.text
    assert "Make-ups cannot be counted just now." in text(row.text)
    assert "Maria Lima" in row.text


async def test_the_subscriber_pages_makeups_open_with_their_counts(
    gateway: tuple[httpx.AsyncClient, FakeOwners],
) -> None:
    http, owners = gateway
    counted_world(owners, signed_in(http))
    page = await http.get(f"{LIST}/{SUBSCRIPTION}")
    assert page.status_code == 200, page.text
    words = text(page.text)
    heading, count, first = (
        words.index("Make-up sessions"),
        words.index("1 owed, 1 booked, 1 held, 1 expired"),
        words.index("The session of"),
    )
    assert heading < count < first

    owners.makeups = [makeup("withdrawn")]  # listed, but nothing counted: no count line
    page = await http.get(f"{LIST}/{SUBSCRIPTION}")
    assert "withdrawn (you did attend)" in text(page.text)
    assert 'id="makeup-counts"' not in page.text


async def counted_reply(gateway: tuple[httpx.AsyncClient, FakeOwners], path: str) -> Any:
    """The API's answer to the mentor at `path`, in the world counted."""
    http, owners = gateway
    counted_world(owners)
    response = await http.get(path, headers=bearer())
    assert response.status_code == 200, response.text
    return response.json()


def counts(owed: int, booked: int, used: int, expired: int, by: str | None) -> dict[str, Any]:
    return {"owed": owed, "booked": booked, "used": used, "expired": expired, "first_book_by": by}


async def test_the_api_lists_subscribers_with_their_makeups_counted_or_null_if_booking_is_silent(
    gateway: tuple[httpx.AsyncClient, FakeOwners],
) -> None:
    body = await counted_reply(gateway, "/api/mentor/subscribers")
    assert [s["mentee_name"] for s in body["subscribers"]] == ["Maria Lima", "João Silva"]
    assert body["makeups"]["total"] == counts(3, 1, 2, 2, "2026-12-12T21:00:00Z")
    assert body["makeups"]["by_subscription"] == {
        str(SUBSCRIPTION): counts(1, 1, 1, 1, "2026-12-15T21:00:00Z"),
        str(OTHER): counts(2, 0, 1, 0, "2026-12-12T21:00:00Z"),
        str(ENDED): counts(0, 0, 0, 1, None),  # not listed by attendance, counted all the same
    }

    http, owners = gateway
    owners.silent.add(ListMakeups)
    response = await http.get("/api/mentor/subscribers", headers=bearer())
    assert response.status_code == 200, response.text
    assert response.json()["makeups"] is None
    assert len(response.json()["subscribers"]) == 2


async def test_the_api_lists_every_makeup_the_mentor_owes_with_their_counts(
    gateway: tuple[httpx.AsyncClient, FakeOwners],
) -> None:
    body = await counted_reply(gateway, "/api/mentor/makeups")
    http, owners = gateway
    assert [Makeup.model_validate(m) for m in body["makeups"]] == owners.makeups
    assert body["counts"]["total"] == counts(3, 1, 2, 2, "2026-12-12T21:00:00Z")
    assert body["counts"]["by_subscription"][str(OTHER)] == counts(
        2, 0, 1, 0, "2026-12-12T21:00:00Z"
    )
    [asked] = owners.of(ListMakeups)
    assert asked.mentor_id == MENTOR

    as_mentee = await http.get("/api/mentor/makeups", headers=bearer("mentee", MENTEE))
    assert as_mentee.status_code == 403
    owners.silent.add(ListMakeups)
    assert (await http.get("/api/mentor/makeups", headers=bearer())).status_code == 503

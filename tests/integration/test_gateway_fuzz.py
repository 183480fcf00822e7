"""Schemathesis over the gateway's OpenAPI document: no input is ever a server error.

Every operation of `/openapi.json` is called with cases schemathesis derives
from the document, both fitting it (positive) and not (negative: wrong types,
missing fields, malformed ids), in-process through the ASGI app. The owning
services and the broker are replaced by fakes that answer at once, so the
cases reach the handlers and their answers; each caller carries a valid token
of the role its endpoint needs. The check: no answer is a 5xx.

`GATEWAY_FUZZ_EXAMPLES` sets the cases per operation and mode (default 60);
the run is derandomized, so a failure here fails the same way again.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from contracts import Event
from contracts.rpc import (
    AppealAbsence,
    AppealReply,
    AppealView,
    AttendanceExport,
    BookingAttendance,
    BookingCancellation,
    BookingFound,
    CalendarFeed,
    CalendarFeedToken,
    CancelBooking,
    ClearMark,
    DecideAppeal,
    ExportAttendance,
    ExportedSession,
    FindBooking,
    GetCalendarFeed,
    GetHistory,
    GetMenteeStanding,
    GetMentorPolicy,
    GetSubscriber,
    HistoryLine,
    HistoryReply,
    ListMakeups,
    ListMenteeBookings,
    ListSubscribers,
    Makeup,
    MakeupBooking,
    MakeupScheduled,
    MakeupsReply,
    MarkAttendance,
    MenteeBooking,
    MenteeBookingsReply,
    MenteeStandingReply,
    MentorPolicyReply,
    OpenCalendarFeed,
    PolicyPreview,
    PreviewPolicy,
    ReactivateMentee,
    Reply,
    Request,
    ResetCalendarFeed,
    ScheduleMakeup,
    SetMentorPolicy,
    SubscriberChanged,
    SubscriberDetail,
    SubscriberReply,
    SubscribersReply,
    WaiveReprobation,
)
from services.gateway.app import create_app
from services.gateway.auth import issue_token
from services.gateway.owners import Owners
from services.kit.settings import Settings
from tests.conftest import derived

EXAMPLES = int(os.environ.get("GATEWAY_FUZZ_EXAMPLES", "60"))
MENTEE = uuid.UUID("6d1b6c2e-46b1-4f0e-9b8e-0a4c3f4f9a11")
MENTOR = uuid.UUID("0e3f2f0d-2c7e-4b55-8f1e-6f4b1d2c3a22")
ADMIN = uuid.UUID("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d")
NOW = datetime(2026, 3, 2, 18, 5, tzinfo=UTC)
ERA = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass
class FakeMessaging:
    """The broker as the gateway's handlers see it, answering at once."""

    kept: list[tuple[str, str]] = field(default_factory=list)

    async def ping(self) -> bool:
        return True

    async def dead_letter_body(
        self, service: str, routing_key: str, body: bytes, reason: str, *, message_id: str
    ) -> None:
        self.kept.append((message_id, reason))


def _detail(subscription_id: uuid.UUID) -> SubscriberDetail:
    return SubscriberDetail(
        subscription_id=subscription_id,
        mentee_id=MENTEE,
        mentee_name="Maria Lima",
        mentee_email="maria@example.com",
        absences=1,
        consecutive_absences=1,
        is_reprobated=False,
        status="warned",
        upcoming_bookings=1,
        timezone="Europe/Lisbon",
        bookings=[
            BookingAttendance(
                booking_id=uuid.uuid4(),
                starts_at=NOW - timedelta(days=7),
                ends_at=NOW - timedelta(days=7) + timedelta(hours=1),
                cancelled=False,
                attended=False,
                marked_by="system",
                marked_at=NOW,
            )
        ],
    )


def _makeup(subscription_id: uuid.UUID, starts_at: datetime | None = None) -> Makeup:
    """A make-up owed for a session missed a day before NOW, booked for `starts_at` if given."""
    missed = NOW - timedelta(days=1)
    booking = (
        None
        if starts_at is None
        else MakeupBooking(
            booking_id=uuid.uuid4(),
            starts_at=starts_at,
            ends_at=starts_at + timedelta(hours=1),
            status="scheduled",
        )
    )
    return Makeup(
        missed_booking_id=uuid.uuid4(),
        subscription_id=subscription_id,
        missed_starts_at=missed,
        missed_ends_at=missed + timedelta(hours=1),
        status="owed" if booking is None else "booked",
        owed_at=NOW,
        changed_at=NOW,
        book_by=missed + timedelta(days=14),
        booking=booking,
    )


class FakeOwners(Owners):
    """Booking and attendance, answering every request with plausible data."""

    def __init__(self, messaging: FakeMessaging) -> None:
        super().__init__(messaging, timeout=1.0)  # type: ignore[arg-type]
        self.published: list[Event] = []

    async def ask_raw(self, request: Request, reply_type: type[Any]) -> Any:
        reply: Reply
        if isinstance(request, ListMenteeBookings):
            reply = MenteeBookingsReply(
                bookings=[
                    MenteeBooking(
                        booking_id=uuid.uuid4(),
                        subscription_id=uuid.uuid4(),
                        starts_at=NOW,
                        ends_at=NOW + timedelta(hours=1),
                        status="scheduled",
                        attended=None,
                    )
                ]
            )
        elif isinstance(request, FindBooking):
            reply = BookingFound(
                booking_id=request.booking_id,
                subscription_id=uuid.uuid4(),
                mentee_id=MENTEE,
                mentor_id=MENTOR,
                status="scheduled",
            )
        elif isinstance(request, ListSubscribers):
            reply = SubscribersReply(subscribers=[_detail(uuid.uuid4())])
        elif isinstance(request, GetSubscriber):
            reply = SubscriberReply(subscriber=_detail(request.subscription_id))
        elif isinstance(
            request, MarkAttendance | ClearMark | ReactivateMentee | WaiveReprobation | DecideAppeal
        ):
            reply = SubscriberChanged(subscriber=_detail(uuid.uuid4()))
        elif isinstance(request, AppealAbsence):
            reply = AppealReply(
                appeal=AppealView(
                    appeal_id=request.request_id,
                    booking_id=request.booking_id,
                    subscription_id=uuid.uuid4(),
                    starts_at=NOW - timedelta(days=1),
                    contested_status="absent",
                    reason=request.reason,
                    filed_at=request.requested_at,
                    status="open",
                )
            )
        elif isinstance(request, CancelBooking):
            reply = BookingCancellation(
                booking_id=request.booking_id, starts_at=NOW, status="cancelled_in_time"
            )
        elif isinstance(request, GetHistory):
            reply = HistoryReply(
                history=[HistoryLine(kind="mark", at=NOW, actor="system", new_status="absent")]
            )
        elif isinstance(request, ExportAttendance):
            # Booking holds sessions of this era only: none in a range that ends before
            # it (a session at 0001-01-01 UTC is not a time of its Sao Paulo slot).
            starts_at = max(request.starts_from, ERA)
            reply = AttendanceExport(
                sessions=[
                    ExportedSession(
                        mentee_name="Maria",
                        mentee_email="maria@example.com",
                        timezone="America/Sao_Paulo",
                        booking_id=uuid.uuid4(),
                        starts_at=starts_at,
                        cancelled=False,
                    )
                ]
                if starts_at < request.starts_before
                else []
            )
        elif isinstance(request, GetMenteeStanding):
            reply = MenteeStandingReply(subscriptions=[_detail(uuid.uuid4())])
        elif isinstance(request, OpenCalendarFeed | ResetCalendarFeed):
            reply = CalendarFeedToken(token="a-feed-token-of-sixteen-or-more")
        elif isinstance(request, GetMentorPolicy | SetMentorPolicy):
            reply = MentorPolicyReply(
                policy=getattr(request, "policy", None), subscriptions=1, since=NOW
            )
        elif isinstance(request, PreviewPolicy):
            reply = PolicyPreview(subscriptions=0)
        elif isinstance(request, ListMakeups) and request.subscription_id is None:
            # A mentee's or a mentor's make-ups: of several subscriptions, owed and booked.
            reply = MakeupsReply(
                makeups=[_makeup(uuid.uuid4()), _makeup(uuid.uuid4(), NOW + timedelta(days=1))]
            )
        elif isinstance(request, ListMakeups):
            reply = MakeupsReply(makeups=[_makeup(request.subscription_id)])
        elif isinstance(request, ScheduleMakeup):
            reply = MakeupScheduled(makeup=_makeup(request.subscription_id, request.starts_at))
        elif isinstance(request, GetCalendarFeed):
            reply = CalendarFeed(ics="BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n")
        else:
            raise AssertionError(f"unexpected request {request!r}")
        assert isinstance(reply, reply_type)
        return reply

    async def publish(self, event: Event) -> None:
        self.published.append(event)


@asynccontextmanager
async def _no_broker(app: FastAPI) -> AsyncIterator[None]:
    yield


@pytest.fixture(scope="module")
def gateway(settings: Settings) -> FastAPI:
    app = create_app(derived(settings, "fuzz"))
    app.router.lifespan_context = _no_broker
    messaging = FakeMessaging()
    app.state.messaging = messaging
    app.state.owners = FakeOwners(messaging)
    return app


def _role_for(path: str) -> str:
    if path.startswith(("/api/mentee", "/api/bookings")):
        return "mentee"
    if path.startswith("/api/admin"):
        return "admin"
    return "mentor"


def _operations(app: FastAPI) -> Iterator[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    for result in schema.get_all_operations():
        yield result.ok()


@dataclass
class Tally:
    statuses: dict[int, int] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)
    unsatisfiable: list[str] = field(default_factory=list)

    @property
    def cases(self) -> int:
        return sum(self.statuses.values())


def _fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str], tally: Tally) -> None:
    """Call `operation` with up to EXAMPLES cases of `mode`, counting the answers."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def call(case: Any) -> None:
        response = case.call(headers=headers)
        tally.statuses[response.status_code] = tally.statuses.get(response.status_code, 0) + 1
        if response.status_code >= 500:
            tally.server_errors.append(
                f"{response.status_code} {response.text[:200]!r}: {case.as_curl_command()}"
            )

    try:
        call()
    except Unsatisfiable:
        # Nothing about this operation can be made invalid (no parameters, no body).
        assert mode is GenerationMode.NEGATIVE
        tally.unsatisfiable.append(f"{operation.method.upper()} {operation.path}")


def test_no_generated_request_is_a_server_error(gateway: FastAPI) -> None:
    secret = gateway.state.settings.jwt_secret
    users = {"mentee": MENTEE, "mentor": MENTOR, "admin": ADMIN}
    tokens = {
        role: issue_token(secret, user, role, datetime.now(UTC) + timedelta(hours=1))  # type: ignore[arg-type]
        for role, user in users.items()
    }
    tally = Tally()
    operations = list(_operations(gateway))
    assert len(operations) >= 8
    for operation in operations:
        headers = {"Authorization": f"Bearer {tokens[_role_for(operation.path)]}"}
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(operation, mode, headers, tally)

    print(
        f"schemathesis: {len(operations)} operations, {tally.cases} cases, "
        f"statuses {dict(sorted(tally.statuses.items()))}, "
        f"{len(tally.server_errors)} server errors; no negative cases for {tally.unsatisfiable}"
    )
    assert tally.cases >= len(operations) * 2
    assert tally.server_errors == [], "\n".join(tally.server_errors[:20])

"""The gateway's HTTP edge on the real broker: auth, validation, and what it publishes.

No owning service runs in this test's namespace, so reads show how the
gateway answers when the owner cannot be reached. The end-to-end suite covers
the answers of the real owners.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
import pytest_asyncio

from contracts import BookingRef, BookingsCancelled, BookingsScheduled, SessionJoined, SweepTick
from services.gateway.app import create_app
from services.gateway.auth import issue_token
from services.gateway.dependencies import get_now
from services.kit.settings import Settings
from tests.conftest import derived
from tests.support.listening import listening, publish
from tests.support.waiting import eventually

FIXED_NOW = datetime(2026, 3, 2, 18, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    return derived(settings, "gw").model_copy(update={"rpc_timeout_seconds": 1.0})


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def gateway(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    app.dependency_overrides[get_now] = lambda: FIXED_NOW
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gateway") as client,
    ):
        yield client


def bearer(
    settings: Settings, role: str, *, expires_in: timedelta = timedelta(hours=1)
) -> dict[str, str]:
    token = issue_token(settings.jwt_secret, uuid.uuid4(), role, datetime.now(UTC) + expires_in)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
    ids=["missing", "malformed", "wrong-scheme"],
)
async def test_a_request_without_a_valid_token_is_401(
    gateway: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await gateway.get("/api/mentee/bookings", headers=headers)
    assert response.status_code == 401
    assert response.json()["detail"]


async def test_an_expired_or_forged_token_is_401(
    gateway: httpx.AsyncClient, settings: Settings
) -> None:
    expired = await gateway.get(
        "/api/mentee/bookings", headers=bearer(settings, "mentee", expires_in=-timedelta(minutes=1))
    )
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    forged = jwt.encode(
        {"sub": str(uuid.uuid4()), "role": "admin", "exp": int(datetime.now(UTC).timestamp()) + 60},
        "someone-elses-secret-of-enough-length",
        algorithm="HS256",
    )
    response = await gateway.post("/api/admin/sweep", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


async def test_the_wrong_role_is_403(gateway: httpx.AsyncClient, settings: Settings) -> None:
    as_mentee = await gateway.get("/api/mentor/subscribers", headers=bearer(settings, "mentee"))
    assert as_mentee.status_code == 403
    assert as_mentee.json() == {"detail": "this needs the mentor role"}
    as_mentor = await gateway.post("/api/admin/sweep", headers=bearer(settings, "mentor"))
    assert as_mentor.status_code == 403
    join_as_mentor = await gateway.post(
        f"/api/bookings/{uuid.uuid4()}/join", headers=bearer(settings, "mentor")
    )
    assert join_as_mentor.status_code == 403


async def test_malformed_ids_and_bodies_are_422(
    gateway: httpx.AsyncClient, settings: Settings
) -> None:
    mentor = bearer(settings, "mentor")
    bad_id = await gateway.get("/api/mentor/subscribers/not-a-uuid", headers=mentor)
    assert bad_id.status_code == 422
    bad_body = await gateway.post(
        f"/api/mentor/bookings/{uuid.uuid4()}/attendance",
        json={"attended": "maybe"},
        headers=mentor,
    )
    assert bad_body.status_code == 422
    extra = await gateway.post(
        f"/api/mentor/bookings/{uuid.uuid4()}/attendance",
        json={"attended": True, "by": "me"},
        headers=mentor,
    )
    assert extra.status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        b'{"attended": NaN}',
        b'{"attended": Infinity}',
        b'{"attended": -Infinity}',
        b'{"attended": 1e309}',
        b'{"attended": "\\ud800"}',
        b'{"attended": true, "\\udfff": NaN}',
        b'{"attended": ' + b"1" * 5000 + b"}",
        b"[NaN]",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"attended": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b"",
        b"null",
        b"{",
        b'{"attended": "\xff"}',
    ],
    ids=[
        "nan",
        "infinity",
        "minus-infinity",
        "overflowing-number",
        "lone-surrogate",
        "surrogate-key",
        "huge-integer",
        "array",
        "deeply-nested",
        "nested-value",
        "empty",
        "null",
        "truncated",
        "not-utf8",
    ],
)
async def test_a_body_that_cannot_be_echoed_back_is_a_422_that_does_not_echo_it(
    gateway: httpx.AsyncClient, settings: Settings, body: bytes
) -> None:
    response = await gateway.post(
        f"/api/mentor/bookings/{uuid.uuid4()}/attendance",
        content=body,
        headers={**bearer(settings, "mentor"), "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    problems = response.json()["detail"]
    assert problems and all({"type", "loc", "msg"} <= set(p) for p in problems)
    assert all("input" not in p for p in problems)


async def test_an_owner_that_cannot_be_reached_is_a_503_with_a_reason(
    gateway: httpx.AsyncClient, settings: Settings
) -> None:
    response = await gateway.get("/api/mentor/subscribers", headers=bearer(settings, "mentor"))
    assert response.status_code == 503
    assert "attendance service" in response.json()["detail"]


async def test_a_join_for_a_booking_the_gateway_heard_of_needs_no_answer_from_booking(
    gateway: httpx.AsyncClient, settings: Settings
) -> None:
    """No booking service runs here: what the gateway heard on the broker decides."""
    mentee, mentor = uuid.uuid4(), uuid.uuid4()
    schedule = BookingsScheduled(
        occurred_at=FIXED_NOW,
        subscription_id=uuid.uuid4(),
        mentee_id=mentee,
        mentor_id=mentor,
        bookings=[
            BookingRef(booking_id=uuid.uuid4(), starts_at=FIXED_NOW, ends_at=FIXED_NOW + hour)
            for hour in (timedelta(hours=1), timedelta(hours=2))
        ],
    )
    joined, cancelled = (b.booking_id for b in schedule.bookings)
    as_mentee = {"Authorization": f"Bearer {_token(settings, mentee, 'mentee')}"}

    async def join(booking_id: uuid.UUID, headers: dict[str, str]) -> httpx.Response:
        return await gateway.post(f"/api/bookings/{booking_id}/join", headers=headers)

    unknown = await join(joined, as_mentee)
    assert unknown.status_code == 503  # not heard of yet: booking is asked, and absent
    async with listening(settings, ["session.joined"]) as bus:
        await publish(settings, schedule)
        accepted = await eventually(lambda: join(joined, as_mentee), lambda r: r.status_code == 202)
        assert accepted.status_code == 202, accepted.text
        [event] = await bus.wait_for(SessionJoined, booking_id=joined)
        # (Published while this listener's queue routes it: no attendance runs here.)
        as_mentor = {"Authorization": f"Bearer {_token(settings, mentor, 'mentor')}"}
        mentor_join = await gateway.post(f"/api/mentor/bookings/{joined}/join", headers=as_mentor)
        assert mentor_join.status_code == 202, mentor_join.text
    assert (event.mentee_id, event.joined_at) == (mentee, FIXED_NOW)
    theirs = await join(joined, bearer(settings, "mentee"))
    assert (theirs.status_code, theirs.json()["detail"]) == (403, "this booking is not yours")

    await publish(
        settings,
        BookingsCancelled(
            occurred_at=FIXED_NOW,
            subscription_id=schedule.subscription_id,
            booking_ids=[cancelled],
            reason="reprobation",
        ),
    )
    refused = await eventually(lambda: join(cancelled, as_mentee), lambda r: r.status_code == 409)
    assert refused.json()["detail"] == "the booking is cancelled"


def _token(settings: Settings, person: uuid.UUID, role: str) -> str:
    return issue_token(settings.jwt_secret, person, role, datetime.now(UTC) + timedelta(hours=1))  # type: ignore[arg-type]


async def test_an_admin_sweep_publishes_a_tick_at_now(
    gateway: httpx.AsyncClient, settings: Settings
) -> None:
    async with listening(settings, ["sweep.tick"]) as bus:
        response = await gateway.post("/api/admin/sweep", headers=bearer(settings, "admin"))
        assert response.status_code == 202, response.text
        [tick] = await bus.wait_for(SweepTick)
    assert tick.tick_at == FIXED_NOW
    assert response.json()["event_id"] == str(tick.event_id)


async def test_the_openapi_document_lists_every_endpoint_with_its_errors(
    gateway: httpx.AsyncClient,
) -> None:
    spec = (await gateway.get("/openapi.json")).json()
    paths = spec["paths"]
    for path, method in [
        ("/api/mentee/bookings", "get"),
        ("/api/bookings/{booking_id}/join", "post"),
        ("/api/mentor/subscribers", "get"),
        ("/api/mentor/subscribers/{subscription_id}", "get"),
        ("/api/mentor/bookings/{booking_id}/attendance", "post"),
        ("/api/mentor/subscribers/{subscription_id}/reactivate", "post"),
        ("/api/admin/sweep", "post"),
    ]:
        assert method in paths[path], path
    reactivate = paths["/api/mentor/subscribers/{subscription_id}/reactivate"]["post"]["responses"]
    assert {"200", "401", "403", "404", "409", "503"} <= set(reactivate)

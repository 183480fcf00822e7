"""Signing in (`POST /sign-in` with a platform token, `/dev/sign-in` for development) and
signing out, over the gateway's HTTP edge.

The owners are replaced by a fake that answers the dashboard's one question,
so these tests need neither the broker nor the owning services.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from contracts.rpc import (
    CalendarFeedToken,
    ListMakeups,
    ListSubscribers,
    MakeupsReply,
    OpenCalendarFeed,
    Reply,
    Request,
    SubscribersReply,
    SubscriberSummary,
)
from services.gateway.app import create_app
from services.gateway.auth import issue_token, read_token
from services.gateway.dependencies import get_owners
from services.gateway.security import csrf_token
from services.kit.settings import DEV_JWT_SECRET, Settings

MENTOR = UUID("0e3f2f0d-2c7e-4b55-8f1e-6f4b1d2c3a22")
DASHBOARD = "/dashboard/mentorship/subscribers"


class FakeOwners:
    """Answers ListSubscribers with one subscriber of whichever mentor asks (and the
    calendar feed the page links, and no make-up for the list to count)."""

    def __init__(self) -> None:
        self.asked: list[Request] = []

    async def ask(self, request: Request, reply_type: type[Reply]) -> Any:
        if isinstance(request, OpenCalendarFeed):
            return CalendarFeedToken(token="a-feed-token-of-sixteen-or-more")
        if isinstance(request, ListMakeups):
            return MakeupsReply()
        self.asked.append(request)
        assert isinstance(request, ListSubscribers) and reply_type is SubscribersReply
        return SubscribersReply(
            subscribers=[
                SubscriberSummary(
                    subscription_id=uuid.uuid4(),
                    mentee_id=uuid.uuid4(),
                    mentee_name="Maria Lima",
                    mentee_email="maria@example.com",
                    absences=1,
                    consecutive_absences=1,
                    is_reprobated=False,
                    status="warned",
                    upcoming_bookings=2,
                    next_booking_at=datetime(2026, 3, 9, 21, tzinfo=UTC),
                    timezone="America/Sao_Paulo",
                )
            ]
        )


def gateway_app(jwt_secret: str) -> tuple[FastAPI, FakeOwners]:
    app = create_app(Settings(jwt_secret=jwt_secret))
    owners = FakeOwners()
    app.dependency_overrides[get_owners] = lambda: owners
    return app, owners


def client(app: FastAPI, scheme: str = "http") -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url=f"{scheme}://gateway.test"
    )


@pytest_asyncio.fixture(loop_scope="session")
async def dev() -> AsyncIterator[tuple[httpx.AsyncClient, FakeOwners]]:
    app, owners = gateway_app(DEV_JWT_SECRET)
    async with client(app) as http:
        yield http, owners


def session_cookie(response: httpx.Response) -> str:
    [header] = [h for h in response.headers.get_list("set-cookie") if h.startswith("session=")]
    return header


def attributes(cookie_header: str) -> dict[str, str]:
    parts = [p.strip() for p in cookie_header.split(";")]
    return {k.lower(): v for k, _, v in (p.partition("=") for p in parts[1:])}


async def test_signing_in_sets_an_httponly_samesite_cookie_and_redirects(
    dev: tuple[httpx.AsyncClient, FakeOwners],
) -> None:
    http, _ = dev
    response = await http.get(
        "/dev/sign-in", params={"role": "mentor", "sub": str(MENTOR), "next": DASHBOARD}
    )
    assert response.status_code == 303
    assert response.headers["location"] == DASHBOARD
    cookie = session_cookie(response)
    flags = attributes(cookie)
    assert "httponly" in flags
    assert flags["samesite"].lower() == "lax"
    assert flags["path"] == "/"
    assert "secure" not in flags  # plain http in development
    token = cookie.split(";", 1)[0].removeprefix("session=")
    caller = read_token(DEV_JWT_SECRET, token)
    assert (caller.user_id, caller.role) == (MENTOR, "mentor")


async def test_over_https_the_cookie_is_secure() -> None:
    app, _ = gateway_app(DEV_JWT_SECRET)
    async with client(app, "https") as http:
        response = await http.get("/dev/sign-in", params={"role": "mentee", "sub": str(MENTOR)})
    assert response.status_code == 303
    assert "secure" in attributes(session_cookie(response))


async def test_the_cookie_then_opens_the_dashboard_of_that_mentor(
    dev: tuple[httpx.AsyncClient, FakeOwners],
) -> None:
    http, owners = dev
    http.cookies.clear()
    before = await http.get(DASHBOARD)
    assert before.status_code == 401
    assert "Sign in for development" in before.text
    assert "/dev/sign-in?next=/dashboard/mentorship/subscribers" in before.text

    page = await http.get(
        "/dev/sign-in",
        params={"role": "mentor", "sub": str(MENTOR), "next": DASHBOARD},
        follow_redirects=True,
    )
    assert page.status_code == 200, page.text
    assert str(page.url).endswith(DASHBOARD)
    assert "Maria Lima" in page.text and "status-warned" in page.text
    assert "Sign out" in page.text
    assert isinstance(owners.asked[-1], ListSubscribers)
    assert owners.asked[-1].mentor_id == MENTOR
    http.cookies.clear()


async def test_without_role_and_user_id_it_shows_a_form(
    dev: tuple[httpx.AsyncClient, FakeOwners],
) -> None:
    http, _ = dev
    response = await http.get("/dev/sign-in", params={"next": "/dashboard/mentorship/x"})
    assert response.status_code == 200
    assert 'name="role"' in response.text and 'name="sub"' in response.text
    assert 'value="/dashboard/mentorship/x"' in response.text
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"role": "mentor", "sub": "not-a-uuid"}, "must be a UUID"),
        ({"role": "admin", "sub": str(MENTOR)}, "Choose a role"),
        ({"sub": str(MENTOR)}, "Choose a role"),
    ],
    ids=["malformed-id", "admin", "no-role"],
)
async def test_a_malformed_sign_in_shows_the_form_with_the_problem(
    dev: tuple[httpx.AsyncClient, FakeOwners], params: dict[str, str], problem: str
) -> None:
    http, _ = dev
    response = await http.get("/dev/sign-in", params=params)
    assert response.status_code == 422
    assert problem in response.text
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/dashboard",
        "//evil.example/dashboard",
        "/\\evil.example",
        "/\t/evil.example",
        "dashboard/mentorship/subscribers",
        "javascript:alert(1)",
    ],
)
async def test_next_must_be_a_path_of_this_site(
    dev: tuple[httpx.AsyncClient, FakeOwners], target: str
) -> None:
    http, _ = dev
    response = await http.get(
        "/dev/sign-in", params={"role": "mentor", "sub": str(MENTOR), "next": target}
    )
    assert response.status_code == 400
    assert "only be sent to a page of this site" in response.text
    assert "set-cookie" not in response.headers


async def test_sign_in_is_refused_when_jwt_secret_is_not_the_development_one() -> None:
    app, _ = gateway_app("a-production-secret-of-sufficient-length-0123456789")
    async with client(app) as http:
        for params in ({"role": "mentor", "sub": str(MENTOR)}, {}):
            response = await http.get("/dev/sign-in", params=params)
            assert response.status_code == 404
            assert "Development sign-in is off" in response.text
            assert "set-cookie" not in response.headers
        # The dashboard's sign-in page does not offer it either.
        page = await http.get(DASHBOARD)
        assert page.status_code == 401
        assert "/dev/sign-in" not in page.text
        assert "make token" in page.text


@pytest.mark.parametrize("secret", [DEV_JWT_SECRET, "another-secret-of-sufficient-length-0123"])
async def test_signing_out_clears_the_cookie_whatever_the_secret(secret: str) -> None:
    app, _ = gateway_app(secret)
    async with client(app) as http:
        http.cookies.set("session", "some-token", domain="gateway.test")
        refused = await http.post("/sign-out")  # no CSRF token: maybe another site's form
        assert refused.status_code == 403
        assert "no CSRF token" in refused.text
        assert "set-cookie" not in refused.headers and "session" in http.cookies
        response = await http.post(
            "/sign-out", data={"csrf_token": csrf_token(secret, "some-token")}
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/signed-out"
        cleared = session_cookie(response)
        flags = attributes(cleared)
        assert cleared.startswith(('session="";', "session=;"))
        assert flags["max-age"] == "0" and flags["path"] == "/"
        assert "session" not in http.cookies
        page = await http.get("/signed-out")
        assert page.status_code == 200
        assert "You are signed out" in page.text
        assert "Sign out" not in page.text
        assert ("Sign in for development" in page.text) == (secret == DEV_JWT_SECRET)


# ---- POST /sign-in: a token issued by the platform, exchanged for the cookie ---------------

PRODUCTION_SECRET = "a-production-secret-of-sufficient-length-0123456789"


def platform_token(
    lifetime: timedelta = timedelta(hours=8), secret: str = PRODUCTION_SECRET
) -> str:
    return issue_token(secret, MENTOR, "mentor", datetime.now(UTC) + lifetime)


@pytest.mark.parametrize("how", ["form", "bearer"])
async def test_a_platform_token_is_exchanged_for_the_session_cookie(how: str) -> None:
    app, owners = gateway_app(PRODUCTION_SECRET)
    token = platform_token()
    async with client(app) as http:
        if how == "form":
            response = await http.post("/sign-in", data={"token": token, "next": DASHBOARD})
        else:
            response = await http.post("/sign-in", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 303, response.text
        # Without `next`, home: `/` sends each person to their own page.
        assert response.headers["location"] == (DASHBOARD if how == "form" else "/")
        cookie = session_cookie(response)
        flags = attributes(cookie)
        assert "httponly" in flags and flags["samesite"].lower() == "lax"
        assert flags["path"] == "/" and "secure" not in flags
        assert 8 * 3600 - 60 <= int(flags["max-age"]) <= 8 * 3600  # until the token expires
        assert cookie.split(";", 1)[0] == f"session={token}"
        page = await http.get(DASHBOARD)
        assert page.status_code == 200 and "Maria Lima" in page.text
        assert owners.asked[-1].mentor_id == MENTOR  # type: ignore[attr-defined]


async def test_dev_and_platform_sign_in_set_the_same_cookie() -> None:
    app, _ = gateway_app(DEV_JWT_SECRET)
    async with client(app, "https") as http:
        dev = await http.get("/dev/sign-in", params={"role": "mentor", "sub": str(MENTOR)})
        platform = await http.post(
            "/sign-in", data={"token": platform_token(timedelta(days=7), DEV_JWT_SECRET)}
        )
    dev_flags, platform_flags = (attributes(session_cookie(r)) for r in (dev, platform))
    assert "secure" in dev_flags and "secure" in platform_flags
    for flags in (dev_flags, platform_flags):
        flags.pop("max-age")
    assert dev_flags == platform_flags


@pytest.mark.parametrize(
    "sent",
    [
        {},
        {"token": "not-a-jwt"},
        {"token": "__expired__"},
        {"token": "__forged__"},
    ],
    ids=["none", "malformed", "expired", "forged"],
)
async def test_a_bad_platform_token_signs_nobody_in(sent: dict[str, str]) -> None:
    app, _ = gateway_app(PRODUCTION_SECRET)
    if sent.get("token") == "__expired__":
        sent = {"token": platform_token(-timedelta(minutes=1))}
    elif sent.get("token") == "__forged__":
        sent = {"token": platform_token(secret="someone-elses-secret-of-enough-length")}
    async with client(app) as http:
        response = await http.post("/sign-in", data=sent)
    assert response.status_code == 401
    assert "That token does not sign you in" in response.text
    assert 'name="token"' in response.text  # the form again
    assert "set-cookie" not in response.headers


async def test_platform_sign_in_sends_only_to_pages_of_this_site() -> None:
    app, _ = gateway_app(PRODUCTION_SECRET)
    async with client(app) as http:
        response = await http.post(
            "/sign-in", data={"token": platform_token(), "next": "https://evil.example/"}
        )
        assert response.status_code == 400
        assert "set-cookie" not in response.headers
        form = await http.get("/sign-in", params={"next": "/dashboard/mentorship/x"})
        assert form.status_code == 200
        assert 'action="/sign-in"' in form.text and 'value="/dashboard/mentorship/x"' in form.text
        refused = await http.get("/sign-in", params={"next": "//evil.example"})
        assert refused.status_code == 400


@pytest.mark.parametrize(
    ("role", "page"),
    [
        ("mentor", "/dashboard/mentorship/subscribers"),
        ("mentee", "/dashboard/mentorship/bookings"),
        ("admin", "/docs"),
    ],
)
async def test_home_sends_each_signed_in_person_to_their_own_page(role: str, page: str) -> None:
    app, _ = gateway_app(DEV_JWT_SECRET)
    async with client(app) as http:
        nobody = await http.get("/")
        assert (nobody.status_code, nobody.headers["location"]) == (303, "/sign-in")
        token = issue_token(DEV_JWT_SECRET, MENTOR, role, datetime.now(UTC) + timedelta(hours=1))  # type: ignore[arg-type]
        http.cookies.set("session", token)
        home = await http.get("/")
        assert (home.status_code, home.headers["location"]) == (303, page)


async def test_the_sign_in_page_offers_token_sign_in_whatever_the_secret() -> None:
    app, _ = gateway_app(PRODUCTION_SECRET)
    async with client(app) as http:
        page = await http.get(DASHBOARD)
    assert page.status_code == 401
    assert "/sign-in?next=/dashboard/mentorship/subscribers" in page.text


async def test_the_platform_may_post_the_sign_in_form_from_its_own_site() -> None:
    """The token is the credential, not an ambient cookie: the platform's page hands the
    user over by posting it here from the platform's origin."""
    app, _ = gateway_app(PRODUCTION_SECRET)
    async with client(app) as http:
        response = await http.post(
            "/sign-in",
            data={"token": platform_token()},
            headers={"Origin": "https://platform.example", "Sec-Fetch-Site": "cross-site"},
        )
    assert response.status_code == 303
    assert session_cookie(response).startswith("session=")

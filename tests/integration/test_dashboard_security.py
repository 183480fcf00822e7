"""The dashboard cannot be driven by other sites: CSRF tokens, origin checks, and the
security headers of every page, over the gateway's HTTP edge.

The owners are replaced by a fake that records every question, so a refused
request is seen to have asked nothing of the services that own the data.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from contracts import SubscriptionPolicy
from contracts.rpc import (
    BookingAttendance,
    CalendarFeedToken,
    GetHistory,
    GetMenteeStanding,
    GetMentorPolicy,
    GetSubscriber,
    HistoryReply,
    ListMakeups,
    ListSubscribers,
    MakeupsReply,
    MarkAttendance,
    MenteeStandingReply,
    MentorPolicyReply,
    OpenCalendarFeed,
    PolicyPreview,
    PreviewPolicy,
    ReactivateMentee,
    Reply,
    Request,
    SetMentorPolicy,
    SubscriberChanged,
    SubscriberDetail,
    SubscriberReply,
    SubscribersReply,
)
from services.gateway.app import create_app
from services.gateway.auth import issue_token
from services.gateway.dependencies import get_owners
from services.gateway.security import POLICY, REDOC_POLICY, csrf_token
from services.kit.settings import Settings

SECRET = "a-production-secret-of-sufficient-length-0123456789"
BASE = "http://gateway.test"
MENTOR = UUID("0e3f2f0d-2c7e-4b55-8f1e-6f4b1d2c3a22")
SUBSCRIPTION = UUID("7d1c8a52-4d0b-4a7e-9c1e-3b5f2a6d8e91")
BOOKING = UUID("5a2b9c7e-1f3d-4e6a-8b0c-9d7e6f5a4b32")
EVIL = "https://evil.example"
TEMPLATES = Path(__file__).resolve().parents[2] / "services" / "gateway" / "templates"

# Every state-changing route a cookie can reach: (path, form body).
CHANGES = {
    "reactivate": (f"/dashboard/mentorship/subscribers/{SUBSCRIPTION}/reactivate", {}),
    "mark": (f"/dashboard/mentorship/bookings/{BOOKING}/attendance", {"attended": "true"}),
    "sign-out": ("/sign-out", {}),
    "join": (f"/dashboard/mentorship/bookings/{BOOKING}/join", {}),
    "cancel": (f"/dashboard/mentorship/bookings/{BOOKING}/cancel", {}),
    "appeal": (f"/dashboard/mentorship/bookings/{BOOKING}/appeal", {"reason": "I was ill"}),
    "calendar-reset": ("/dashboard/mentorship/calendar/reset", {}),
    "policy-preview": ("/dashboard/mentorship/policy/preview", {"warn_after_absences": "2"}),
    "policy-apply": ("/dashboard/mentorship/policy/apply", {"warn_after_absences": "2"}),
    "makeup": (
        f"/dashboard/mentorship/subscribers/{SUBSCRIPTION}/makeups/{BOOKING}",
        {"starts_at": "2026-03-09T18:00", "zone": "UTC"},
    ),
}
DASHBOARD_CHANGES = ["reactivate", "mark", "policy-preview", "policy-apply"]


def subscriber() -> SubscriberDetail:
    starts = datetime(2026, 3, 2, 21, tzinfo=UTC)
    return SubscriberDetail(
        subscription_id=SUBSCRIPTION,
        mentee_id=uuid.uuid4(),
        mentee_name="Maria Lima",
        mentee_email="maria@example.com",
        absences=2,
        consecutive_absences=2,
        is_reprobated=True,
        status="reprobated",
        upcoming_bookings=0,
        timezone="America/Sao_Paulo",
        bookings=[
            BookingAttendance(
                booking_id=BOOKING,
                starts_at=starts,
                ends_at=starts + timedelta(hours=1),
                cancelled=False,
            )
        ],
    )


SETTINGS = SubscriptionPolicy(warn_after_absences=1, reprobate_after_absences=2)


class FakeOwners:
    """Answers the dashboard's questions and records every one of them."""

    def __init__(self) -> None:
        self.asked: list[Request] = []

    async def ask(self, request: Request, reply_type: type[Reply]) -> Any:
        self.asked.append(request)
        if isinstance(request, ListSubscribers):
            return SubscribersReply(subscribers=[subscriber()])
        if isinstance(request, GetSubscriber):
            return SubscriberReply(subscriber=subscriber())
        if isinstance(request, GetHistory):
            return HistoryReply()
        if isinstance(request, ListMakeups):
            return MakeupsReply()
        if isinstance(request, OpenCalendarFeed):
            return CalendarFeedToken(token="a-feed-token-of-sixteen-or-more")
        if isinstance(request, GetMenteeStanding):
            return MenteeStandingReply(subscriptions=[subscriber()])
        if isinstance(request, GetMentorPolicy):
            return MentorPolicyReply(settings=SETTINGS, subscriptions=1)
        if isinstance(request, PreviewPolicy):
            return PolicyPreview(subscriptions=1)
        if isinstance(request, SetMentorPolicy):
            return MentorPolicyReply(
                policy=request.policy, since=request.requested_at, settings=SETTINGS
            )
        assert isinstance(request, ReactivateMentee | MarkAttendance)
        assert reply_type is SubscriberChanged
        return SubscriberChanged(subscriber=subscriber())

    @property
    def changes(self) -> list[Request]:
        return [
            r
            for r in self.asked
            if isinstance(r, ReactivateMentee | MarkAttendance | SetMentorPolicy | PreviewPolicy)
        ]


def token_for(user_id: UUID = MENTOR, lifetime: timedelta = timedelta(hours=1)) -> str:
    return issue_token(SECRET, user_id, "mentor", datetime.now(UTC) + lifetime)


@pytest_asyncio.fixture(loop_scope="session")
async def gateway() -> AsyncIterator[tuple[httpx.AsyncClient, FakeOwners]]:
    app: FastAPI = create_app(Settings(jwt_secret=SECRET))
    owners = FakeOwners()
    app.dependency_overrides[get_owners] = lambda: owners
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE) as http:
        yield http, owners


def signed_in(http: httpx.AsyncClient, session: str | None = None) -> str:
    """Give the client a mentor's session cookie; returns the session token."""
    session = session or token_for()
    http.cookies.set("session", session, domain="gateway.test")
    return session


# ---- refused: another site's form, carrying only the cookie ------------------------------


@pytest.mark.parametrize("change", list(CHANGES))
@pytest.mark.parametrize(
    "forged",
    [
        {"Origin": EVIL},
        {"Origin": EVIL, "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "null"},
        {"Origin": "http://gateway.test.evil.example"},
        {"Origin": "https://gateway.test"},  # another scheme is another origin
        {"Origin": "http://gateway.test:8080"},
    ],
    ids=["origin", "origin-navigate", "sec-fetch-site", "null", "lookalike", "https", "port"],
)
async def test_a_cross_origin_form_post_with_only_the_cookie_is_refused(
    gateway: tuple[httpx.AsyncClient, FakeOwners], change: str, forged: dict[str, str]
) -> None:
    http, owners = gateway
    signed_in(http)
    path, form = CHANGES[change]
    response = await http.post(path, data=form, headers=forged)
    assert response.status_code == 403, response.text
    assert "Changes can only be made from the dashboard" in response.text
    assert owners.asked == []
    assert "set-cookie" not in response.headers  # sign-out too: the session stays


@pytest.mark.parametrize("change", list(CHANGES))
async def test_another_origin_is_refused_even_with_the_right_token(
    gateway: tuple[httpx.AsyncClient, FakeOwners], change: str
) -> None:
    http, owners = gateway
    session = signed_in(http)
    path, form = CHANGES[change]
    headers = {"Origin": EVIL, "X-CSRF-Token": csrf_token(SECRET, session)}
    response = await http.post(path, data=form, headers=headers)
    assert response.status_code == 403
    assert owners.asked == []


@pytest.mark.parametrize("change", list(CHANGES))
@pytest.mark.parametrize(
    "headers", [{"Origin": BASE}, {"Sec-Fetch-Site": "same-origin"}, {}], ids=["origin", "sfs", "-"]
)
async def test_a_same_origin_request_without_the_token_is_refused(
    gateway: tuple[httpx.AsyncClient, FakeOwners], change: str, headers: dict[str, str]
) -> None:
    http, owners = gateway
    signed_in(http)
    path, form = CHANGES[change]
    response = await http.post(path, data=form, headers=headers)
    assert response.status_code == 403
    assert "carries no CSRF token" in response.text
    assert owners.asked == []
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize("change", list(CHANGES))
async def test_a_token_of_another_session_is_refused(
    gateway: tuple[httpx.AsyncClient, FakeOwners], change: str
) -> None:
    http, owners = gateway
    signed_in(http)
    theirs = csrf_token(SECRET, token_for(lifetime=timedelta(hours=2)))  # another sign-in
    path, form = CHANGES[change]
    for sent in ({"X-CSRF-Token": theirs}, {"X-CSRF-Token": "0" * 64}, {"X-CSRF-Token": "x"}):
        response = await http.post(path, data=form, headers={"Origin": BASE, **sent})
        assert response.status_code == 403
        assert "does not belong to your session" in response.text
    forged_field = await http.post(path, data={**form, "csrf_token": theirs})
    assert forged_field.status_code == 403
    assert owners.asked == []


async def test_a_token_made_with_another_secret_is_refused(
    gateway: tuple[httpx.AsyncClient, FakeOwners],
) -> None:
    http, owners = gateway
    session = signed_in(http)
    path, _ = CHANGES["reactivate"]
    guess = csrf_token("someone-elses-secret-of-enough-length", session)
    response = await http.post(path, headers={"X-CSRF-Token": guess})
    assert response.status_code == 403
    assert owners.asked == []


# ---- accepted: the dashboard's own requests -----------------------------------------------


async def test_with_the_token_from_the_page_the_changes_are_made(
    gateway: tuple[httpx.AsyncClient, FakeOwners],
) -> None:
    http, owners = gateway
    session = signed_in(http)
    page = await http.get(f"/dashboard/mentorship/subscribers/{SUBSCRIPTION}")
    assert page.status_code == 200
    [token] = re.findall(r'<meta name="csrf-token" content="([0-9a-f]{64})">', page.text)
    assert token == csrf_token(SECRET, session)
    assert f'name="csrf_token" value="{token}"' in page.text  # the Sign out form

    headers = {"Origin": BASE, "Sec-Fetch-Site": "same-origin", "X-CSRF-Token": token}
    reactivated = await http.post(CHANGES["reactivate"][0], headers=headers)
    assert reactivated.status_code == 200, reactivated.text
    assert 'id="subscriber"' in reactivated.text
    marked = await http.post(CHANGES["mark"][0], data={"attended": "false"}, headers=headers)
    assert marked.status_code == 200, marked.text
    # Without an Origin header (older browsers), the token alone suffices.
    again = await http.post(CHANGES["reactivate"][0], headers={"X-CSRF-Token": token})
    assert again.status_code == 200

    reactivate, mark, reactivate_again = owners.changes
    assert isinstance(reactivate, ReactivateMentee) and isinstance(mark, MarkAttendance)
    assert (reactivate.mentor_id, reactivate.subscription_id) == (MENTOR, SUBSCRIPTION)
    assert (mark.mentor_id, mark.booking_id, mark.attended) == (MENTOR, BOOKING, False)
    assert isinstance(reactivate_again, ReactivateMentee)

    signed_out = await http.post("/sign-out", data={"csrf_token": token}, headers=headers)
    assert signed_out.status_code == 303
    assert "session" not in http.cookies


@pytest.mark.parametrize(
    ("path", "form", "says"),
    [
        (
            f"/dashboard/mentorship/subscribers/{SUBSCRIPTION}/waive",
            {"reason": " "},
            "Say why you waive it: a reason of one line is needed.",
        ),
        (
            f"/dashboard/mentorship/appeals/{uuid.uuid4()}/reject",
            {"reason": ""},
            "Say why you reject it: a reason of one line is needed.",
        ),
        (
            f"/dashboard/mentorship/appeals/{uuid.uuid4()}/accept",
            {"reason": "line one\nline two"},
            "A reason must be one line, without control characters.",
        ),
        (CHANGES["mark"][0], {"status": "present", "attended": "false"}, "contradicts"),
    ],
    ids=["waive", "reject", "accept", "mark"],
)
async def test_a_form_no_command_can_be_made_of_is_said_in_place_and_asks_nothing(
    gateway: tuple[httpx.AsyncClient, FakeOwners], path: str, form: dict[str, str], says: str
) -> None:
    http, owners = gateway
    session = signed_in(http)
    headers = {"X-CSRF-Token": csrf_token(SECRET, session), "Sec-Fetch-Mode": "cors"}
    response = await http.post(path, data=form, headers=headers)
    assert response.status_code == 422, response.text
    assert response.text.startswith('<p class="error" role="alert">')
    assert says in response.text
    assert owners.asked == []


async def test_the_policy_page_previews_and_applies_exactly_what_was_typed(
    gateway: tuple[httpx.AsyncClient, FakeOwners],
) -> None:
    """A plain form post (no script): the token from the page's own hidden field."""
    http, owners = gateway
    session = signed_in(http)
    page = await http.get("/dashboard/mentorship/policy")
    assert page.status_code == 200, page.text
    fields = re.findall(r'name="csrf_token" value="([0-9a-f]{64})"', page.text)
    assert fields and set(fields) == {csrf_token(SECRET, session)}  # Preview and Sign out
    typed = {"csrf_token": fields[0], "reprobate_within_absences": "3"}
    typed |= {"reprobate_within_days": "30", "warn_after_absences": ""}
    navigating = {"Origin": BASE, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate"}
    previewed = await http.post(CHANGES["policy-preview"][0], data=typed, headers=navigating)
    assert previewed.status_code == 200, previewed.text
    [preview] = owners.changes
    assert isinstance(preview, PreviewPolicy) and preview.mentor_id == MENTOR
    assert preview.proposed == SubscriptionPolicy(reprobate_after_absences_in_days="3:30")
    # Apply carries the policy previewed, field by field.
    carried = dict(
        re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', previewed.text)
    )
    assert carried["reprobate_within_absences"] == "3" and carried["reprobate_within_days"] == "30"
    applied = await http.post(CHANGES["policy-apply"][0], data=carried, headers=navigating)
    assert applied.status_code == 200, applied.text
    [_, policy] = owners.changes
    assert isinstance(policy, SetMentorPolicy) and policy.mentor_id == MENTOR
    assert policy.policy == preview.proposed
    assert "Done: your policy applies from now on to" in applied.text


@pytest.mark.parametrize(
    ("form", "field", "says"),
    [
        ({"reprobate_within_absences": "3"}, "reprobate_after_absences_in_days", "Give both"),
        ({"warn_after_absences": "0"}, "warn_after_absences", "from 1 to 100"),
        ({"reprobation_ends": "after_days"}, "reprobation_ends", "after how many days"),
        ({"warn_below_attendance_rate": "150"}, "warn_below_attendance_rate", "at most 100"),
    ],
    ids=["half-a-window", "zero", "days-missing", "rate"],
)
@pytest.mark.parametrize("change", ["policy-preview", "policy-apply"])
async def test_a_policy_the_form_does_not_say_is_shown_by_its_field_and_asks_nothing(
    gateway: tuple[httpx.AsyncClient, FakeOwners],
    change: str,
    form: dict[str, str],
    field: str,
    says: str,
) -> None:
    http, owners = gateway
    session = signed_in(http)
    response = await http.post(
        CHANGES[change][0], data={**form, "csrf_token": csrf_token(SECRET, session)}
    )
    assert response.status_code == 422, response.text
    [error] = re.findall(
        rf'<p class="error field-error" id="{field}-error" role="alert">([^<]*)', response.text
    )
    assert says in error
    assert "correct what is marked below" in response.text
    assert owners.changes == []


async def test_an_appeal_without_a_reason_is_said_in_place_and_asks_nothing(
    gateway: tuple[httpx.AsyncClient, FakeOwners],
) -> None:
    http, owners = gateway
    session = issue_token(SECRET, uuid.uuid4(), "mentee", datetime.now(UTC) + timedelta(hours=1))
    signed_in(http, session)
    headers = {"X-CSRF-Token": csrf_token(SECRET, session), "Sec-Fetch-Mode": "cors"}
    response = await http.post(CHANGES["appeal"][0], data={"reason": " "}, headers=headers)
    assert response.status_code == 422, response.text
    assert "Say why the absence should not count: one line is needed." in response.text
    assert owners.asked == []


async def test_an_origin_with_the_default_port_is_the_same_origin(
    gateway: tuple[httpx.AsyncClient, FakeOwners],
) -> None:
    http, owners = gateway
    session = signed_in(http)
    headers = {"Origin": "HTTP://Gateway.Test:80", "X-CSRF-Token": csrf_token(SECRET, session)}
    response = await http.post(CHANGES["reactivate"][0], headers=headers)
    assert response.status_code == 200
    assert len(owners.changes) == 1


async def test_a_refusal_reads_as_a_fragment_for_the_script_and_a_page_for_a_form(
    gateway: tuple[httpx.AsyncClient, FakeOwners],
) -> None:
    http, _ = gateway
    signed_in(http)
    path = CHANGES["reactivate"][0]
    by_script = await http.post(path, headers={"Sec-Fetch-Mode": "cors"})
    assert by_script.status_code == 403
    assert by_script.text.startswith('<p class="error"')
    by_form = await http.post(path, headers={"Origin": EVIL, "Sec-Fetch-Mode": "navigate"})
    assert by_form.status_code == 403
    assert "<h1>Request refused</h1>" in by_form.text


@pytest.mark.parametrize("change", DASHBOARD_CHANGES)
async def test_bearer_requests_are_not_cookie_borne_and_need_no_token(
    gateway: tuple[httpx.AsyncClient, FakeOwners], change: str
) -> None:
    http, owners = gateway
    http.cookies.clear()
    path, form = CHANGES[change]
    bearer = {"Authorization": f"Bearer {token_for()}"}
    response = await http.post(path, data=form, headers={**bearer, "Origin": EVIL})
    assert response.status_code == 200, response.text
    assert len(owners.changes) == 1


async def test_the_json_api_does_not_accept_the_cookie(
    gateway: tuple[httpx.AsyncClient, FakeOwners],
) -> None:
    http, owners = gateway
    session = signed_in(http)
    headers = {"X-CSRF-Token": csrf_token(SECRET, session), "Origin": BASE}
    for method, path, body in [
        ("GET", "/api/mentor/subscribers", None),
        ("GET", f"/api/mentor/subscribers/{SUBSCRIPTION}", None),
        ("POST", f"/api/mentor/subscribers/{SUBSCRIPTION}/reactivate", None),
        ("POST", f"/api/mentor/bookings/{BOOKING}/attendance", {"attended": True}),
    ]:
        response = await http.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, (path, response.text)
        assert response.json() == {"detail": "missing bearer token"}
    assert owners.asked == []


async def test_without_a_session_a_change_is_401_and_asks_nothing(
    gateway: tuple[httpx.AsyncClient, FakeOwners],
) -> None:
    http, owners = gateway
    http.cookies.clear()
    for change in DASHBOARD_CHANGES:
        path, form = CHANGES[change]
        response = await http.post(path, data=form, headers={"Origin": BASE})
        assert response.status_code == 401
    assert owners.asked == []


# ---- security headers ----------------------------------------------------------------------


def assert_strict_headers(response: httpx.Response) -> None:
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == POLICY
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"


async def test_every_page_sends_the_security_headers(
    gateway: tuple[httpx.AsyncClient, FakeOwners],
) -> None:
    http, _ = gateway
    session = signed_in(http)
    pages = [
        ("GET", "/dashboard/mentorship/subscribers", 200),
        ("GET", f"/dashboard/mentorship/subscribers/{SUBSCRIPTION}", 200),
        ("GET", f"/dashboard/mentorship/subscribers/{SUBSCRIPTION}/panel", 200),
        ("GET", "/dashboard/mentorship/policy", 200),
        ("GET", "/sign-in", 200),
        ("GET", "/signed-out", 200),
        ("GET", "/dev/sign-in", 404),  # off under a production secret: still a page
        ("POST", CHANGES["reactivate"][0], 403),
    ]
    for method, path, expected in pages:
        response = await http.request(method, path)
        assert response.status_code == expected, path
        assert_strict_headers(response)
    changed = await http.post(
        CHANGES["reactivate"][0], headers={"X-CSRF-Token": csrf_token(SECRET, session)}
    )
    assert changed.status_code == 200
    assert_strict_headers(changed)
    mentee = issue_token(SECRET, MENTOR, "mentee", datetime.now(UTC) + timedelta(hours=1))
    signed_in(http, mentee)
    own_page = await http.get("/dashboard/mentorship/bookings")
    assert own_page.status_code == 200, own_page.text
    assert_strict_headers(own_page)
    assert_strict_headers(await http.get("/dashboard/mentorship/bookings/panel"))
    http.cookies.clear()
    assert_strict_headers(await http.get("/dashboard/mentorship/subscribers"))  # 401 page
    assert_strict_headers(await http.get("/dashboard/mentorship/bookings"))
    policy = POLICY.split("; ")
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy


async def test_the_docs_load_only_the_gateways_own_files_and_other_responses_are_nosniff(
    gateway: tuple[httpx.AsyncClient, FakeOwners],
) -> None:
    http, _ = gateway
    for path, policy in (("/docs", POLICY), ("/redoc", REDOC_POLICY)):
        response = await http.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-security-policy"] == policy
        assert response.headers["x-frame-options"] == "DENY"
        links = re.findall(r'(?:src|href|spec-url)="([^"]*)"', response.text)
        assert len(links) >= 3, links
        for link in links:
            assert link.startswith("/") and not link.startswith("//"), (path, link)
            assert (await http.get(link)).status_code == 200, (path, link)
    # Only ReDoc's styled-components and search worker need more than the strict policy.
    redoc = REDOC_POLICY.split("; ")
    assert "script-src 'self'" in redoc and "frame-ancestors 'none'" in redoc
    assert set(redoc) - set(POLICY.split("; ")) == {
        "style-src 'self' 'unsafe-inline'",
        "worker-src blob:",
    }
    assert (await http.get("/docs/oauth2-redirect")).status_code == 404  # no OAuth2 here
    for path in ("/dashboard/static/dashboard.js", "/openapi.json", "/api/mentor/subscribers"):
        response = await http.get(path)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert "content-security-policy" not in response.headers


async def test_what_a_signed_in_person_is_shown_is_never_stored(
    gateway: tuple[httpx.AsyncClient, FakeOwners],
) -> None:
    """`no-store`, so that the Back button after signing out asks the gateway again."""
    http, _ = gateway
    session = signed_in(http)
    csrf = {"X-CSRF-Token": csrf_token(SECRET, session)}
    mentor = [
        await http.get("/dashboard/mentorship/subscribers"),
        await http.get(f"/dashboard/mentorship/subscribers/{SUBSCRIPTION}"),
        await http.get(f"/dashboard/mentorship/subscribers/{SUBSCRIPTION}/panel"),
        await http.post(CHANGES["reactivate"][0], headers=csrf),
        await http.get("/dashboard/mentorship/policy"),
        await http.get("/dashboard/mentorship/bookings"),  # 403: a page for mentees
        await http.get("/docs"),
    ]
    signed_in(http, issue_token(SECRET, MENTOR, "mentee", datetime.now(UTC) + timedelta(hours=1)))
    mentee = [
        await http.get("/dashboard/mentorship/bookings"),
        await http.get("/dashboard/mentorship/bookings/panel"),
    ]
    http.cookies.clear()
    bearer = {"Authorization": f"Bearer {token_for()}"}
    by_bearer = [await http.get("/dashboard/mentorship/subscribers", headers=bearer)]
    for response in mentor + mentee + by_bearer:
        assert response.headers["content-type"].startswith("text/html"), response.url
        assert response.headers["cache-control"] == "no-store", response.url
    assert [r.status_code for r in mentor + mentee] == [200, 200, 200, 200, 200, 403, 200, 200, 200]
    # Nobody's: the sign-in page, and a page asking to sign in.
    for path in ("/sign-in", "/dashboard/mentorship/subscribers", "/docs"):
        assert "cache-control" not in (await http.get(path)).headers, path
    # What is the same for everyone may be kept, whoever asks.
    signed_in(http)
    for path in ("/dashboard/static/dashboard.css", "/favicon.ico"):
        response = await http.get(path)
        assert response.status_code == 200, path
        assert "no-store" not in response.headers.get("cache-control", ""), path


def test_templates_have_no_inline_script_style_or_event_handlers() -> None:
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        for script in re.findall(r"<script\b[^>]*>", text, flags=re.I):
            assert "src=" in script, (template.name, script)
        assert not re.search(r"<style\b", text, flags=re.I), template.name
        assert not re.search(r"\sstyle\s*=", text, flags=re.I), template.name
        assert not re.search(r"\son[a-z]+\s*=", text, flags=re.I), template.name
        assert "javascript:" not in text.lower(), template.name


async def test_the_site_has_an_icon_that_every_page_links(
    gateway: tuple[httpx.AsyncClient, FakeOwners],
) -> None:
    http, _ = gateway
    icon = await http.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"] == "image/svg+xml"
    assert icon.text.startswith("<svg") and icon.text.rstrip().endswith("</svg>")
    signed_in(http)
    for path in ("/dashboard/mentorship/subscribers", "/sign-in", "/docs", "/redoc"):
        page = (await http.get(path)).text
        assert re.search(r'<link rel="(?:shortcut )?icon" href="/favicon.ico"', page), path

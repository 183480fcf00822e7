"""Signing in and out: the gateway alone sets the `session` cookie.

`POST /sign-in` exchanges a JWT issued by the platform (form field `token`, or an
`Authorization: Bearer` header) for the cookie; `GET /sign-in` is a form for it.

`GET /dev/sign-in?role=mentor&sub=<uuid>&next=/dashboard/...` issues a token for
anyone and stores it as the `session` cookie, so it exists only while the
gateway runs with the development JWT secret: with any other secret every
`/dev/` page answers 404 and sets nothing. Signing out works whatever the secret,
and like every change made with the cookie it needs the session's CSRF token.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, get_args
from urllib.parse import urlsplit
from uuid import UUID

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.gateway.auth import (
    ALSO_ANONYMOUS,
    DEV_TOKEN_LIFETIME,
    PUBLIC,
    SESSION_COOKIE,
    BearerCredentials,
    PageToken,
    Role,
    dev_sign_in_enabled,
    issue_token,
    page_caller_of,
    read_token_expiry,
)
from services.gateway.dashboard import templates
from services.gateway.dependencies import SettingsDep
from services.gateway.security import forgery_refusal

router = APIRouter(tags=["sign-in"])

# Where a signed-in person lands: `/` sends each to their own page.
HOME = "/"
PAGES: dict[Role, str] = {
    "mentor": "/dashboard/mentorship/subscribers",
    "mentee": "/dashboard/mentorship/bookings",
    # Admins have no page of their own: the API's documentation, where they act.
    "admin": "/docs",
}
SIGN_IN_ROLES: tuple[Role, ...] = ("mentor", "mentee")
assert set(SIGN_IN_ROLES) <= set(get_args(Role))

# What the sign-in routes document alike: the `next` they go to, and its answers.
NEXT = "where to go once signed in: a path on this site"
SIGNED_IN = {"description": "signed in: the `session` cookie is set; redirect to `next`"}
NOT_LOCAL = {"description": "`next` is not a path on this site"}


def local_path(target: str) -> bool:
    """Whether `target` is a path on this site, so that a sign-in link cannot send
    the browser elsewhere (`//host`, `/\\host`, `https://host`, hidden control characters)."""
    if not target.startswith("/") or target.startswith("//"):
        return False
    if "\\" in target or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def _page(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def _message(request: Request, status_code: int, heading: str, message: str) -> HTMLResponse:
    return _page(
        request,
        "message.html",
        {"heading": heading, "message": message, "sign_in": False},
        status_code,
    )


@router.get(
    "/dev/sign-in",
    response_class=HTMLResponse,
    summary="Development sign-in: a form, or (with role and sub) set the session cookie",
    responses={
        303: SIGNED_IN,
        400: NOT_LOCAL,
        404: {"description": "JWT_SECRET is not the development secret: sign-in is off"},
        422: {"description": "unknown role or malformed user id (the form says which)"},
    },
    openapi_extra=PUBLIC,
)
async def dev_sign_in(
    request: Request,
    settings: SettingsDep,
    role: Annotated[str | None, Query(description="mentor or mentee")] = None,
    sub: Annotated[str | None, Query(description="the user id (UUID)")] = None,
    next_path: Annotated[str, Query(alias="next", description=NEXT)] = HOME,
) -> Response:
    if not dev_sign_in_enabled(settings):
        return _message(
            request,
            status.HTTP_404_NOT_FOUND,
            "Development sign-in is off",
            "This gateway does not use the development JWT_SECRET, so it does not let "
            "anyone sign in as anyone. Sign in with a token issued for this deployment.",
        )
    if not local_path(next_path):
        return _not_local(request, next_path)
    form = {"role": role or "mentor", "sub": sub or "", "next": next_path, "roles": SIGN_IN_ROLES}
    if role is None and sub is None:
        return _page(request, "sign_in.html", form)
    problems: list[str] = []
    if role not in SIGN_IN_ROLES:
        problems.append(f"Choose a role: {' or '.join(SIGN_IN_ROLES)}.")
    try:
        user_id = UUID(sub or "")
    except ValueError:
        problems.append("The user id must be a UUID, like 0e3f2f0d-2c7e-4b55-8f1e-6f4b1d2c3a22.")
    if problems:
        return _page(
            request,
            "sign_in.html",
            {**form, "problems": problems},
            status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    assert role in SIGN_IN_ROLES
    expires_at = datetime.now(UTC) + DEV_TOKEN_LIFETIME
    token = issue_token(settings.jwt_secret, user_id, role, expires_at)
    return signed_in(request, token, expires_at, next_path)


def _cookie_attributes(request: Request) -> dict[str, Any]:
    """How the `session` cookie is set and cleared: never readable by scripts, not
    sent with other sites' subrequests or posts, and only over HTTPS when served so."""
    return {
        "path": "/",
        "secure": request.url.scheme == "https",
        "httponly": True,
        "samesite": "lax",
    }


def signed_in(request: Request, token: str, expires_at: datetime, next_path: str) -> Response:
    """Redirect to `next_path` with `token` stored as the `session` cookie until it expires."""
    response = RedirectResponse(next_path, status_code=status.HTTP_303_SEE_OTHER)
    max_age = max(0, int((expires_at - datetime.now(UTC)).total_seconds()))
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, **_cookie_attributes(request))
    return response


def _not_local(request: Request, next_path: str) -> HTMLResponse:
    return _message(
        request,
        status.HTTP_400_BAD_REQUEST,
        "Not a page of this site",
        f"After signing in you can only be sent to a page of this site; {next_path!r} is not "
        "a path such as /dashboard/mentorship/bookings.",
    )


# `/`, `/sign-out` and `/signed-out` are steps of a browser's way in and out (a redirect
# whatever is sent, a post that always redirects, a fixed message), no operation a client
# calls with a success or a fault of its own to tell: they are left out of the OpenAPI
# document, whose recommended lint wants both of every operation.
@router.get(
    "/",
    include_in_schema=False,
    summary="Each signed-in person's own page: a mentor's subscribers, a mentee's sessions",
    response_class=RedirectResponse,
    status_code=status.HTTP_303_SEE_OTHER,
    responses={303: {"description": "to the caller's page, or to /sign-in without a session"}},
)
async def home(request: Request, token: PageToken) -> RedirectResponse:
    try:
        caller = page_caller_of(request, token)
    except HTTPException:
        return RedirectResponse("/sign-in", status_code=status.HTTP_303_SEE_OTHER)
    return RedirectResponse(PAGES[caller.role], status_code=status.HTTP_303_SEE_OTHER)


@router.get(
    "/sign-in",
    response_class=HTMLResponse,
    summary="Sign in with a token (HTML form)",
    responses={400: NOT_LOCAL},
    openapi_extra=PUBLIC,
)
async def sign_in_form(
    request: Request,
    next_path: Annotated[str, Query(alias="next", description=NEXT)] = HOME,
) -> HTMLResponse:
    if not local_path(next_path):
        return _not_local(request, next_path)
    return _page(request, "token_sign_in.html", {"next": next_path})


@router.post(
    "/sign-in",
    response_class=HTMLResponse,
    summary="Exchange a JWT issued by the platform for the session cookie",
    description="The token comes as the form field `token` or as `Authorization: Bearer`. "
    "The gateway checks it (signature, `exp`, `sub`, `role`) and stores it in the HttpOnly, "
    "SameSite=Lax `session` cookie (Secure over HTTPS) until it expires, then redirects to "
    "`next`. This is how the platform hands a user over to the dashboard: its page posts "
    "the form here.",
    responses={
        303: SIGNED_IN,
        400: NOT_LOCAL,
        401: {"description": "no token, or a bad one (expired, forged, malformed)"},
    },
    # The token may come as Bearer, or in the form with no credential besides.
    openapi_extra=ALSO_ANONYMOUS,
)
async def sign_in(
    request: Request,
    settings: SettingsDep,
    bearer: BearerCredentials,
    token: Annotated[str | None, Form(description="the JWT (or send it as Bearer)")] = None,
    next_path: Annotated[str, Form(alias="next", description=NEXT)] = HOME,
) -> Response:
    if not local_path(next_path):
        return _not_local(request, next_path)
    presented = (token or "").strip() or (bearer.credentials if bearer else None)
    try:
        if not presented:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "no token was sent")
        _, expires_at = read_token_expiry(settings.jwt_secret, presented)
    except HTTPException as error:
        return _page(
            request,
            "token_sign_in.html",
            {"next": next_path, "problem": f"That token does not sign you in: {error.detail}."},
            status.HTTP_401_UNAUTHORIZED,
        )
    return signed_in(request, presented, expires_at, next_path)


@router.post(
    "/sign-out",
    include_in_schema=False,
    summary="Sign out: clear the session cookie",
    description="Made with the cookie, it needs the session's CSRF token (form field "
    "`csrf_token` or header `X-CSRF-Token`, as the page's Sign out button sends) and is "
    "refused when another site sends it.",
    status_code=status.HTTP_303_SEE_OTHER,
    responses={
        303: {"description": "the `session` cookie is cleared; redirect to /signed-out"},
        403: {"description": "sent by another site, or without the session's CSRF token"},
    },
)
async def sign_out(request: Request) -> Response:
    refusal = await forgery_refusal(request)
    if refusal is not None:
        return _message(request, status.HTTP_403_FORBIDDEN, "Request refused", refusal)
    response = RedirectResponse("/signed-out", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, **_cookie_attributes(request))
    return response


@router.get(
    "/signed-out",
    include_in_schema=False,
    response_class=HTMLResponse,
    summary="You are signed out (HTML)",
)
async def signed_out(request: Request, settings: SettingsDep) -> HTMLResponse:
    return _page(
        request,
        "message.html",
        {
            "heading": "You are signed out",
            "message": "Your session cookie is gone from this browser.",
            "ok": True,
            "sign_in": True,
            "dev_sign_in": dev_sign_in_enabled(settings),
            "sign_in_next": HOME,
        },
    )

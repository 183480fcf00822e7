"""Signing in for development, and signing out.

`GET /dev/sign-in?role=mentor&sub=<uuid>&next=/dashboard/...` issues a token for
anyone and stores it as the `session` cookie, so it exists only while the
gateway runs with the development JWT secret: with any other secret every
`/dev/` page answers 404 and sets nothing. Signing out works whatever the secret.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, get_args
from urllib.parse import urlsplit
from uuid import UUID

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.gateway.auth import DEV_TOKEN_LIFETIME, Role, dev_sign_in_enabled, issue_token
from services.gateway.dashboard import templates
from services.gateway.dependencies import SettingsDep

router = APIRouter(tags=["sign-in"])

SESSION_COOKIE = "session"
DASHBOARD = "/dashboard/mentorship/subscribers"
SIGN_IN_ROLES: tuple[Role, ...] = ("mentor", "mentee")
assert set(SIGN_IN_ROLES) <= set(get_args(Role))


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
        303: {"description": "signed in: the `session` cookie is set; redirect to `next`"},
        400: {"description": "`next` is not a path on this site"},
        404: {"description": "JWT_SECRET is not the development secret: sign-in is off"},
        422: {"description": "unknown role or malformed user id (the form says which)"},
    },
)
async def dev_sign_in(
    request: Request,
    settings: SettingsDep,
    role: Annotated[str | None, Query(description="mentor or mentee")] = None,
    sub: Annotated[str | None, Query(description="the user id (UUID)")] = None,
    next_path: Annotated[
        str, Query(alias="next", description="where to go once signed in: a path on this site")
    ] = DASHBOARD,
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
        return _message(
            request,
            status.HTTP_400_BAD_REQUEST,
            "Not a page of this site",
            f"After signing in you can only be sent to a page of this site; {next_path!r} is not "
            "a path such as /dashboard/mentorship/subscribers.",
        )
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
    token = issue_token(settings.jwt_secret, user_id, role, datetime.now(UTC) + DEV_TOKEN_LIFETIME)
    response = RedirectResponse(next_path, status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(DEV_TOKEN_LIFETIME.total_seconds()),
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",
    )
    return response


@router.post(
    "/sign-out",
    summary="Sign out: clear the session cookie",
    status_code=status.HTTP_303_SEE_OTHER,
    responses={303: {"description": "the `session` cookie is cleared; redirect to /signed-out"}},
)
async def sign_out(request: Request) -> Response:
    response = RedirectResponse("/signed-out", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",
    )
    return response


@router.get("/signed-out", response_class=HTMLResponse, summary="You are signed out (HTML)")
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
            "sign_in_next": DASHBOARD,
        },
    )

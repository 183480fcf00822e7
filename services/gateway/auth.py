"""Who is calling: HS256 JWTs from the Authorization header or the `session` cookie."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from uuid import UUID

import jwt
from fastapi import Depends, HTTPException, Request, status

from services.kit.settings import DEV_JWT_SECRET, Settings

SESSION_COOKIE = "session"

Role = Literal["mentee", "mentor", "admin"]
ROLES: tuple[Role, ...] = ("mentee", "mentor", "admin")


@dataclass(frozen=True)
class Caller:
    user_id: UUID
    role: Role


def issue_token(secret: str, user_id: UUID, role: Role, expires_at: datetime) -> str:
    return jwt.encode(
        {"sub": str(user_id), "role": role, "exp": int(expires_at.timestamp())},
        secret,
        algorithm="HS256",
    )


def read_token(secret: str, token: str) -> Caller:
    """The caller a token names; HTTP 401 when it is missing, expired, forged or malformed."""
    return read_token_expiry(secret, token)[0]


def read_token_expiry(secret: str, token: str) -> tuple[Caller, datetime]:
    """The caller a token names and when the token expires; HTTP 401 as `read_token`."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], options={"require": ["sub", "role", "exp"]}
        )
        role = claims["role"]
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        expires_at = datetime.fromtimestamp(int(claims["exp"]), UTC)
        return Caller(user_id=UUID(str(claims["sub"])), role=role), expires_at
    except (jwt.PyJWTError, ValueError, TypeError, OverflowError) as error:
        raise unauthorized(f"invalid token: {error}") from error


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token:
        return token.strip()
    return None


async def current_caller(request: Request) -> Caller:
    """The caller of an API endpoint: Bearer token only."""
    token = bearer_token(request)
    if token is None:
        raise unauthorized("missing bearer token")
    return read_token(request.app.state.settings.jwt_secret, token)


async def current_page_caller(request: Request) -> Caller:
    """The caller of a page: a Bearer token, else the `session` cookie.

    A Bearer header wins: a request that carries one is not cookie-borne (a browser
    never adds it on its own), which is what the CSRF checks of `security` rely on."""
    token = bearer_token(request) or request.cookies.get(SESSION_COOKIE)
    if token is None:
        raise unauthorized("sign in first: no session cookie or bearer token")
    return read_token(request.app.state.settings.jwt_secret, token)


def role_required(
    role: Role, identify: Callable[[Request], Awaitable[Caller]] = current_caller
) -> Callable[..., Awaitable[Caller]]:
    """A dependency that admits only callers with `role` (403 otherwise)."""

    async def dependency(caller: Annotated[Caller, Depends(identify)]) -> Caller:
        if caller.role != role:
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"this needs the {role} role")
        return caller

    return dependency


Mentee = Annotated[Caller, Depends(role_required("mentee"))]
Mentor = Annotated[Caller, Depends(role_required("mentor"))]
Admin = Annotated[Caller, Depends(role_required("admin"))]

DEV_TOKEN_LIFETIME = timedelta(days=7)


def dev_sign_in_enabled(settings: Settings) -> bool:
    """Whether anyone may sign in as anyone (`/dev/sign-in`): only while the secret
    is the development one, which is public anyway."""
    return settings.jwt_secret == DEV_JWT_SECRET

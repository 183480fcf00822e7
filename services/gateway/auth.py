"""Who is calling: HS256 JWTs from the Authorization header or the `session` cookie.

Both are read through FastAPI's security classes, so the OpenAPI document
declares them as security schemes (`bearer` and `session`) on every operation
that reads them, and /docs offers an Authorize button."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

import jwt
from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.base import SecurityBase
from fastapi.security.utils import get_authorization_scheme_param
from starlette.requests import HTTPConnection

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


# auto_error=False: a missing credential is this module's 401 (or a page's "Please sign
# in"), with its own words, not FastAPI's generic 403.
BEARER = HTTPBearer(
    scheme_name="bearer",
    bearerFormat="JWT",
    description="`Authorization: Bearer <JWT>` (HS256, claims `sub`, `role`, `exp`): the "
    "API's only way in; the pages take it too.",
    auto_error=False,
)
SESSION = APIKeyCookie(
    name=SESSION_COOKIE,
    scheme_name="session",
    description="The HttpOnly `session` cookie that `POST /sign-in` sets (the same JWT): "
    "how a browser reaches the pages. A change made with it also needs the session's "
    "CSRF token (`X-CSRF-Token` header or `csrf_token` form field).",
    auto_error=False,
)
# The `openapi_extra` of an operation that needs no credential (its own check, or none),
# and of one that also takes none besides the schemes its dependencies declare.
PUBLIC: dict[str, Any] = {"security": []}
ALSO_ANONYMOUS: dict[str, Any] = {"security": [{}]}
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]
SessionCookie = Annotated[str | None, Security(SESSION)]


def bearer_token(request: HTTPConnection) -> str | None:
    """The Bearer token of a request, read exactly as `BEARER` reads it: the CSRF checks
    of `security` skip a request that has one, so both must agree on which do."""
    scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
    return token if scheme.lower() == "bearer" and token else None


async def page_token(bearer: BearerCredentials, session: SessionCookie) -> str | None:
    """The token a page request presents: a Bearer token, else the `session` cookie.

    A Bearer header wins: a request that carries one is not cookie-borne (a browser
    never adds it on its own), which is what the CSRF checks of `security` rely on."""
    return bearer.credentials if bearer is not None else session


PageToken = Annotated[str | None, Depends(page_token)]


def page_caller_of(request: Request, token: str | None) -> Caller:
    """Who presents `token` to a page; HTTP 401 without one or with a bad one."""
    if token is None:
        raise unauthorized("sign in first: no session cookie or bearer token")
    return read_token(request.app.state.settings.jwt_secret, token)


class BearerOf(SecurityBase):
    """The API's caller, with `role` (any role when None): the Bearer token read,
    verified and its role checked in one dependency (401 without a valid token, 403
    with another role).

    One dependency rather than three (the scheme, the token, the role): FastAPI solves
    each dependency of each request anew, and on the join, the hottest endpoint, solving
    them took about a quarter of the gateway's CPU, the token check included
    (docs/benchmarks.md, issue 34). As a `SecurityBase`, the OpenAPI document declares
    the `bearer` scheme as `BEARER` does."""

    def __init__(self, role: Role | None) -> None:
        self.model = BEARER.model
        self.scheme_name = BEARER.scheme_name
        self.role = role

    async def __call__(self, request: Request) -> Caller:
        token = bearer_token(request)
        if token is None:
            raise unauthorized("missing bearer token")
        caller = read_token(request.app.state.settings.jwt_secret, token)
        if self.role is not None and caller.role != self.role:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, detail=f"this needs the {self.role} role"
            )
        return caller


Anyone = Annotated[Caller, Security(BearerOf(None))]
Mentee = Annotated[Caller, Security(BearerOf("mentee"))]
Mentor = Annotated[Caller, Security(BearerOf("mentor"))]
Admin = Annotated[Caller, Security(BearerOf("admin"))]

DEV_TOKEN_LIFETIME = timedelta(days=7)


def dev_sign_in_enabled(settings: Settings) -> bool:
    """Whether anyone may sign in as anyone (`/dev/sign-in`): only while the secret
    is the development one, which is public anyway."""
    return settings.jwt_secret == DEV_JWT_SECRET

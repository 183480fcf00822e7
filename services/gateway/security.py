"""What keeps the dashboard's cookie from being used by other sites.

The `session` cookie is ambient: the browser sends it with any request to the
gateway, including a form that another site posts. So a request that changes
something and is authenticated by that cookie must also show that it comes
from the dashboard's own pages:

- its `Origin` (when the browser sends one) is the gateway's own origin, and
  its `Sec-Fetch-Site` is not `cross-site`;
- it carries the CSRF token of its session (`X-CSRF-Token` header, or a
  `csrf_token` form field): HMAC-SHA256 of the session token under
  `JWT_SECRET`, rendered into each page as `<meta name="csrf-token">`.
  Another site can neither read the page nor compute the token.

A request with an `Authorization: Bearer` header is not cookie-borne (a
browser adds that header only when a script of an origin allowed by CORS asks,
and the gateway allows none), so API clients need neither.

Every HTML response also gets a strict Content-Security-Policy (no inline
script or style), `X-Frame-Options: DENY`, `X-Content-Type-Options: nosniff`
and `Referrer-Policy: same-origin`; `/docs` and `/redoc` (services.gateway.docs)
load their scripts from the gateway too, and only `/redoc` needs a little more
(REDOC_POLICY). An HTML response to a request that carries a credential (the
`session` cookie or a Bearer token) is made for that person alone, so it also gets
`Cache-Control: no-store`: once signed out, the browser's Back button asks the
gateway again (and shows "Please sign in") instead of showing the page it kept.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.auth import SESSION_COOKIE, bearer_token

CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# ReDoc (/redoc) styles itself with styled-components, which writes <style> elements
# as it renders, and builds its search index in a worker it starts from a blob: URL of
# its own code. So that page alone also allows inline style (which runs no script) and
# blob: workers; its scripts are still the gateway's own, and it shows only the public
# API document. Swagger UI (/docs) runs under the strict policy as it is.
REDOC_POLICY = POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'") + (
    "; worker-src blob:"
)
HTML_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
DEFAULT_PORTS = {"http": 80, "https": 443}


def csrf_token(secret: str, session: str) -> str:
    """The CSRF token of a session: bound to its token, unforgeable without `secret`."""
    message = b"mentorship dashboard csrf\x00" + session.encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def session_csrf_token(request: Request) -> str:
    """The CSRF token for the session cookie this request carries ("" without one)."""
    session = request.cookies.get(SESSION_COOKIE)
    if not session:
        return ""
    return csrf_token(request.app.state.settings.jwt_secret, session)


def _origin(scheme: str, host: str | None, port: int | None) -> str:
    scheme = scheme.lower()
    host = (host or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    shown = "" if port is None or port == DEFAULT_PORTS.get(scheme) else f":{port}"
    return f"{scheme}://{host}{shown}"


def own_origin(request: Request) -> str:
    """The origin the browser reached the gateway at (scheme, `Host`, port)."""
    return _origin(request.url.scheme, request.url.hostname, request.url.port)


def _parsed_origin(value: str) -> str | None:
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    return _origin(parts.scheme, parts.hostname, port)


def cross_site_refusal(request: Request) -> str | None:
    """Why this request comes from another site, or None when nothing says it does."""
    fetch_site = request.headers.get("sec-fetch-site", "").lower()
    if fetch_site == "cross-site":
        return (
            "This request was sent by another site (Sec-Fetch-Site: cross-site). "
            "Changes can only be made from the dashboard's own pages."
        )
    origin = request.headers.get("origin")
    if origin is not None and _parsed_origin(origin) != own_origin(request):
        return (
            f"This request was sent from {origin!r}, not from this site "
            f"({own_origin(request)}). Changes can only be made from the dashboard's own pages."
        )
    return None


async def forgery_refusal(request: Request) -> str | None:
    """Why a state-changing request must be refused as possibly forged by another
    site, or None. Only cookie-borne requests are checked; a Bearer request is not."""
    if bearer_token(request) is not None:
        return None
    refusal = cross_site_refusal(request)
    if refusal is not None:
        return refusal
    session = request.cookies.get(SESSION_COOKIE)
    if not session:
        return None  # nobody is signed in: authentication answers 401
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        field = (await request.form()).get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if not sent:
        return (
            "This request carries no CSRF token, so it may not come from the dashboard. "
            "Reload the page and try again."
        )
    expected = csrf_token(request.app.state.settings.jwt_secret, session)
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        return (
            "This request's CSRF token does not belong to your session (did you sign in "
            "again in another tab?). Reload the page and try again."
        )
    return None


def carries_credential(request: HTTPConnection) -> bool:
    """Whether a request says who sends it: a Bearer token or the `session` cookie."""
    return bearer_token(request) is not None or bool(request.cookies.get(SESSION_COOKIE))


class SecurityHeaders:
    """ASGI middleware: the security headers on every HTML response."""

    def __init__(self, app: ASGIApp, policies: Mapping[str, str]) -> None:
        self.app = app
        self.policies = policies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = self.policies.get(scope["path"], POLICY)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                if headers.get("content-type", "").lower().startswith("text/html"):
                    headers["Content-Security-Policy"] = policy
                    for name, value in HTML_HEADERS.items():
                        headers[name] = value
                    if carries_credential(HTTPConnection(scope)):
                        headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI, redoc_path: str | None = None) -> None:
    """Add the security headers to every response of `app` (REDOC_POLICY on
    `redoc_path`, its ReDoc page)."""
    policies = {redoc_path: REDOC_POLICY} if redoc_path else {}
    app.add_middleware(SecurityHeaders, policies=policies)

"""Wiring of the gateway: settings, broker connection, routers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from contracts import (
    SessionJoined,
    SubscriptionActivated,
    SubscriptionEnded,
    SubscriptionRenewed,
    SweepTick,
)
from services.gateway import (
    api,
    calendar_feed,
    dashboard,
    docs,
    errors,
    favicon,
    health,
    mentee_page,
    policy_page,
    security,
    sign_in,
    stripe_webhooks,
)
from services.gateway.directory import BookingDirectory
from services.gateway.directory_feed import DirectoryFeed
from services.gateway.owners import Owners
from services.kit.logs import configure_logging
from services.kit.messaging import Messaging
from services.kit.settings import Settings


def create_app(settings: Settings, *, after_startup: Callable[[], None] | None = None) -> FastAPI:
    """The gateway; `after_startup` runs once it is connected to the broker."""
    configure_logging("gateway", settings.log_format, settings.log_level)
    messaging = Messaging(settings, "gateway")
    messaging.keep_dead_letters_for(stripe_webhooks.REJECTED_ROUTING_KEY)
    messaging.documents_publishing(
        SessionJoined, SweepTick, SubscriptionActivated, SubscriptionRenewed, SubscriptionEnded
    )
    directory = BookingDirectory(settings.gateway_known_bookings)
    feed = DirectoryFeed(settings, directory)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.warn_about_dev_secrets()
        await messaging.declare()
        # Request/reply (services.gateway.rpc) opens a connection of its own on first use.
        await messaging.broker.start()
        await feed.start()
        if after_startup is not None:
            after_startup()
        try:
            yield
        finally:
            await feed.stop()
            await messaging.broker.stop()
            await messaging.close()

    app = FastAPI(
        title="Mentorship attendance gateway",
        version="0.1.0",
        description="Mentees join sessions; mentors see absences, mark attendance and "
        "reactivate reprobated mentees. Authenticate with `Authorization: Bearer <JWT>` "
        "(HS256, claims `sub`, `role`, `exp`).",
        license_info={"name": "Apache-2.0", "identifier": "Apache-2.0"},
        # Relative: the document describes whichever gateway serves it.
        servers=[{"url": "/", "description": "this gateway"}],
        lifespan=lifespan,
        # docs.install serves these pages with their assets from the gateway itself.
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.settings = settings
    app.state.messaging = messaging
    app.state.owners = Owners(messaging, settings.rpc_timeout_seconds, directory)
    app.include_router(health.router)
    app.include_router(api.router)
    app.include_router(stripe_webhooks.router)
    app.include_router(sign_in.router)
    dashboard.install(app)
    app.include_router(policy_page.router)
    app.include_router(mentee_page.router)
    app.include_router(calendar_feed.router)
    app.include_router(favicon.router)
    docs.install(app)
    security.install(app, redoc_path=docs.REDOC)
    errors.install(app)
    return app

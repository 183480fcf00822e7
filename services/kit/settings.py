"""Configuration from the environment (docs/operations.md and docs/policy.md, the settings)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from contracts.messages import MakeupRefund
from contracts.naming import DEFAULT_NAMESPACE, Naming
from contracts.policy import AbsencesInDays, ReprobationEnds

DEV_JWT_SECRET = "dev-jwt-secret-change-me-in-production"
DEV_STRIPE_WEBHOOK_SECRET = "whsec_dev_change_me"

log = logging.getLogger(__name__)


class Settings(BaseSettings):
    """One settings class for every service; each reads the fields it needs."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    rabbitmq_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    postgres_url: str = "postgresql://postgres@127.0.0.1:5432"
    mentorship_namespace: str = DEFAULT_NAMESPACE

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_from: str = "mentorship@localhost"
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = None
    # Notifications: emails sent at once, each worker over its own SMTP connection. Each
    # waits until its email is recorded (a commit) before sending the next, so throughput
    # is workers / (send + commit), and a crash re-sends at most one email per worker.
    # They share one listener and one connection holding their claims (claims.py). 32
    # rather than 16: with a sink on this machine, 16 workers left a fifth of it idle
    # while the sweep's last emails went out (bench/sweep.py, 6% faster with 32); a relay
    # further away (more ms per send) needs them more. Under Postfix's default limit of
    # 50 connections per client.
    email_senders: int = 32
    # PostgreSQL's plan_cache_mode for the services' connections. PostgreSQL's "auto"
    # suits a server whose autovacuum keeps statistics current; on one without it
    # (where generic plans made while the tables were empty stay), `force_custom_plan`.
    postgres_plan_cache_mode: str = "auto"

    jwt_secret: str = DEV_JWT_SECRET
    stripe_webhook_secret: str = DEV_STRIPE_WEBHOOK_SECRET
    stripe_api_key: str | None = None
    # Stripe's API address (the library's base address): a local server that plays
    # Stripe's API in the tests.
    stripe_api_base: str = "https://api.stripe.com"

    sweep_interval_seconds: float = 3600
    sweep_grace_minutes: int = 15
    join_opens_minutes_before: int = 15
    # A join this long after the start marks `late`; a late session resets the streak
    # unless it counts as an absence.
    late_after_minutes: int = 10
    late_counts_as_absence: bool = False
    # Mentors join through the gateway too; a session the mentor never joined is then
    # the mentor's no-show, never the mentee's absence.
    track_mentor_joins: bool = False
    # A mentee's cancellation at least this long before the start is in time.
    cancel_notice_hours: float = 24
    # Hours before a session at which the sweep reminds mentee and mentor, e.g. "24,1";
    # empty: no reminders.
    reminder_hours_before: Annotated[tuple[int, ...], NoDecode] = (24,)
    # A make-up owed for a mentor's no-show starts at most this many days after the
    # missed session's start.
    makeup_within_days: int = Field(default=14, gt=0)
    # What an expired make-up gives back: none, or stripe_credit (one session's share of
    # the subscription's price credited to the mentee's Stripe customer balance, through
    # STRIPE_API_KEY; booking calls Stripe for nothing else).
    makeup_expired_refund: MakeupRefund = "none"
    warn_after_absences: int = 1
    reprobate_after_absences: int = 2
    # Hours a reached reprobation waits for the mentor's review (waive, correct) before
    # the sweep applies it; 0: at once.
    reprobation_review_hours: float = Field(default=0, ge=0)
    # What lifts a reprobation besides the mentor: on_reactivation (nothing), at_renewal,
    # or after_days:N.
    reprobation_ends: str = "on_reactivation"
    # Beside the consecutive thresholds, off unless set: N absences whose sessions start
    # within D days ("N:D") warn or reprobate; an attendance below this percentage over
    # the last ATTENDANCE_RATE_SESSIONS settled sessions warns.
    warn_after_absences_in_days: str = ""
    reprobate_after_absences_in_days: str = ""
    warn_below_attendance_rate: float | None = Field(default=None, gt=0, le=100)
    attendance_rate_sessions: int = Field(default=10, ge=1, le=100)
    # Days after an absence is marked during which the mentee may appeal it; 0: never.
    appeal_days: float = Field(default=7, ge=0)
    # A new subscription's mentee is emailed the cycle's schedule and their calendar
    # feed; off for a platform that sends its own welcome.
    schedule_emails: bool = True

    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    # The gateway as mentors reach it, for links in emails; unset: http://GATEWAY_HOST:PORT.
    public_url: str | None = None
    rpc_timeout_seconds: float = 5.0
    # Bookings whose owner the gateway keeps in memory for joins (some 200 bytes each).
    gateway_known_bookings: int = Field(default=200_000, ge=0)

    log_format: str = "console"
    log_level: str = "INFO"
    metrics_port: int | None = None
    # Loopback unless told otherwise: a container sets 0.0.0.0 for its scraper.
    metrics_host: str = "127.0.0.1"

    # Broker tuning: how many messages one consumer holds unacknowledged, how many
    # of them it applies in one transaction at most (twice the batch keeps the next
    # batch filling while one commits), and how often a failing message is retried
    # before it is dead-lettered.
    prefetch_count: int = 256
    batch_size: int = 128
    delivery_limit: int = 5
    outbox_batch_size: int = 500
    outbox_poll_seconds: float = 1.0
    # How long a service that has just created quorum queues waits before it binds and
    # consumes them: RabbitMQ 3.10 writes their registration to disk lazily, and a node
    # killed before then brings a queue back without a leader (services/kit/messaging.py).
    quorum_registry_seconds: float = Field(default=3.5, ge=0)

    @field_validator("reminder_hours_before", mode="before")
    @classmethod
    def _hours_list(cls, value: object) -> object:
        """A comma-separated list in the environment ("24,1"); each a whole hour > 0."""
        if not isinstance(value, str):
            return value
        hours = [part.strip() for part in value.split(",") if part.strip()]
        if not all(h.isdigit() and int(h) > 0 for h in hours):
            raise ValueError(f"expected whole hours > 0 separated by commas, got {value!r}")
        return tuple(sorted({int(h) for h in hours}, reverse=True))

    @field_validator("reprobation_ends")
    @classmethod
    def _reprobation_ends(cls, value: str) -> str:
        return str(ReprobationEnds.parse(value))

    @field_validator("warn_after_absences_in_days", "reprobate_after_absences_in_days")
    @classmethod
    def _absences_in_days(cls, value: str) -> str:
        rule = AbsencesInDays.parse_optional(value)
        return "" if rule is None else str(rule)

    @model_validator(mode="after")
    def _refund_needs_a_key(self) -> Settings:
        if self.makeup_expired_refund == "stripe_credit" and not self.stripe_api_key:
            raise ValueError("MAKEUP_EXPIRED_REFUND=stripe_credit needs STRIPE_API_KEY")
        return self

    @property
    def reprobation_ends_policy(self) -> ReprobationEnds:
        return ReprobationEnds.parse(self.reprobation_ends)

    @property
    def gateway_url(self) -> str:
        return (self.public_url or f"http://{self.gateway_host}:{self.gateway_port}").rstrip("/")

    @property
    def naming(self) -> Naming:
        return Naming(self.mentorship_namespace)

    def database_url(self, service: str) -> str:
        """`service`'s own database on POSTGRES_URL, with SQLAlchemy's scheme for
        asyncpg (to show: the engine connects through `postgres_dsn`)."""
        server = _PostgresServer.parse(self.postgres_url)
        return server.url(self.naming.database(service), "postgresql+asyncpg")

    def postgres_dsn(self, database: str) -> str:
        """`database` on POSTGRES_URL as asyncpg's own `connect` takes it, every host
        and parameter of POSTGRES_URL kept."""
        return _PostgresServer.parse(self.postgres_url).url(database, "postgresql")

    def postgres_server_settings(self) -> dict[str, str]:
        """Settings for each of the services' connections to PostgreSQL."""
        return {"plan_cache_mode": self.postgres_plan_cache_mode}

    def warn_about_dev_secrets(self) -> None:
        if self.jwt_secret == DEV_JWT_SECRET:
            log.warning("JWT_SECRET is the development default; set it in production")
        if self.stripe_webhook_secret == DEV_STRIPE_WEBHOOK_SECRET:
            log.warning("STRIPE_WEBHOOK_SECRET is the development default; set it in production")


@dataclass(frozen=True)
class _PostgresServer:
    """POSTGRES_URL taken apart: `postgresql://user[:password]@host:port[,host:port...]`
    `[/database][?parameters]`, as libpq and asyncpg write several hosts. Several hosts
    without `target_session_attrs` get `read-write`: the services write, and a
    standby listed first would otherwise take their connections (and reject each write)."""

    userinfo: str  # "user@" or "user:password@", or ""
    hosts: tuple[str, ...]
    query: tuple[str, ...]  # "name=value" each

    @classmethod
    def parse(cls, url: str) -> _PostgresServer:
        rest = url.split("://", 1)[-1]
        rest, _, query = rest.partition("?")
        netloc = rest.split("/", 1)[0]
        userinfo, at, hosts = netloc.rpartition("@")
        parameters = tuple(part for part in query.split("&") if part)
        listed = tuple(host for host in hosts.split(",") if host)
        if len(listed) > 1 and not any(p.startswith("target_session_attrs=") for p in parameters):
            parameters = (*parameters, "target_session_attrs=read-write")
        return cls(userinfo + at, listed, parameters)

    def url(self, database: str, scheme: str) -> str:
        query = "?" + "&".join(self.query) if self.query else ""
        return f"{scheme}://{self.userinfo}{','.join(self.hosts)}/{database}{query}"

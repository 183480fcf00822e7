"""`make demo`: fill a running system (`make run`) with a story, through its real edges only.

    python scripts/demo.py [--gateway-url http://127.0.0.1:8000]

Two mentors and a dozen mentees in several time zones. Everything goes in the
way it would in production: signed Stripe webhooks (`POST /webhooks/stripe`)
start the subscriptions, whose billing periods began days or weeks ago so that
some sessions are already over; mentors mark some of those sessions attended
(`POST /api/mentor/bookings/{id}/attendance`); an admin sweep
(`POST /api/admin/sweep`) records the sessions nobody attended, which warns or
reprobates; and mentees whose session is happening right now join it
(`POST /api/bookings/{id}/join`). The script waits until each step is visible
through the API, then prints one sign-in link per mentor and per mentee (`/dev/sign-in`, which
the gateway offers while it uses the development JWT secret).

Everything is placed relative to now, so the story is the same whenever it
runs. People and Stripe ids are fixed (uuid5, stable names): running it again
on the same namespace adds nothing; for a fresh story use a new
MENTORSHIP_NAMESPACE.
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import json
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlencode
from uuid import UUID
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import stripe  # noqa: E402

from contracts import Slot  # noqa: E402
from services.gateway.auth import Role, issue_token  # noqa: E402
from services.kit.settings import DEV_JWT_SECRET, Settings  # noqa: E402

T = TypeVar("T")
Say = Callable[[str], None]
Outcome = Literal["attended", "missed", "joins", "open"]
"""What became of one session that has started: `attended` (the mentor marks it),
`missed` (nobody did anything: the sweep records an absence), `joins` (it is
happening now and the mentee joins it), `open` (happening now, not joined yet)."""

_IDS = UUID("5b0f3d8e-2a41-4c7e-9e6b-7d1c0a9f4e21")
WEEK = timedelta(days=7)
BILLING_PERIOD = timedelta(days=30)
DASHBOARD = "/dashboard/mentorship/subscribers"


def person_id(role: str, key: str) -> UUID:
    return uuid.uuid5(_IDS, f"{role}|{key}")


@dataclass(frozen=True)
class Mentor:
    key: str
    name: str

    @property
    def id(self) -> UUID:
        return person_id("mentor", self.key)

    @property
    def email(self) -> str:
        return f"{self.key}.mentor@example.com"


@dataclass(frozen=True)
class Mentee:
    key: str
    name: str
    zone: str
    mentor: Mentor
    sessions: tuple[Outcome, ...]
    """The sessions that have started, oldest first; the last one is `day`'s."""
    day: int
    """The local day of the latest session that started (-3: three days ago, 0: the
    session is happening now) or, without sessions, of the first one (+2)."""
    at: str = "18:00"
    """Its local start time (a session happening now started at the last quarter hour)."""
    duration_minutes: int = 60

    @property
    def id(self) -> UUID:
        return person_id("mentee", self.key)

    @property
    def email(self) -> str:
        return f"{self.key}@example.com"

    @property
    def stripe_subscription_id(self) -> str:
        return f"sub_demo_{self.key}"


ANA = Mentor("ana.ribeiro", "Ana Ribeiro")
KENJI = Mentor("kenji.watanabe", "Kenji Watanabe")
MENTORS = (ANA, KENJI)
# fmt: off
STORY = (
    Mentee("lucas.oliveira", "Lucas Oliveira", "America/Sao_Paulo", ANA,
           ("attended", "attended", "joins"), day=0),
    Mentee("beatriz.santos", "Beatriz Santos", "Europe/Lisbon", ANA,
           ("missed", "joins"), day=0),
    Mentee("chidi.okafor", "Chidi Okafor", "Africa/Lagos", ANA,
           ("attended", "missed"), day=-2, at="19:30"),
    Mentee("emily.carter", "Emily Carter", "America/New_York", ANA,
           ("missed", "missed"), day=-3, at="12:00", duration_minutes=45),
    Mentee("sofia.costa", "Sofia Costa", "Europe/Lisbon", ANA,
           (), day=2, at="18:30"),
    Mentee("yuki.tanaka", "Yuki Tanaka", "Asia/Tokyo", ANA,
           ("missed", "attended"), day=-1, at="08:00"),
    Mentee("haruto.sato", "Haruto Sato", "Asia/Tokyo", KENJI,
           ("attended", "joins"), day=0),
    Mentee("amara.nwosu", "Amara Nwosu", "Africa/Lagos", KENJI,
           ("attended", "missed", "missed"), day=-4, at="17:00"),
    Mentee("diego.alvarez", "Diego Álvarez", "America/Bogota", KENJI,
           ("missed",), day=-5, at="20:00", duration_minutes=90),
    Mentee("olivia.brown", "Olivia Brown", "America/New_York", KENJI,
           ("attended", "open"), day=0),
    Mentee("ines.almeida", "Inês Almeida", "Europe/Lisbon", KENJI,
           ("attended", "attended"), day=-6, at="09:30"),
    Mentee("aiko.yamamoto", "Aiko Yamamoto", "Asia/Tokyo", KENJI,
           ("missed", "attended", "missed"), day=-2, at="21:00"),
)
# fmt: on


class DemoError(RuntimeError):
    """The system did not do what the story needs; the message says what and where."""


# --- the plan: sessions placed relative to now ------------------------------------------


@dataclass(frozen=True)
class Plan:
    mentee: Mentee
    slot: Slot
    cycle_starts_at: datetime
    cycle_ends_at: datetime
    starts: tuple[datetime, ...]
    """Every session of the cycle, in UTC, as the slot places them."""

    def outcome(self, starts_at: datetime) -> Outcome | None:
        """What the story does with the session at `starts_at` (None: in the future)."""
        index = self.starts.index(starts_at)
        return self.mentee.sessions[index] if index < len(self.mentee.sessions) else None

    def with_outcome(self, *outcomes: Outcome) -> list[datetime]:
        return [s for s in self.starts if self.outcome(s) in outcomes]


def _local_time(text: str) -> tuple[int, int]:
    hours, minutes = text.split(":")
    return int(hours), int(minutes)


def plan(mentee: Mentee, now: datetime) -> Plan:
    """The slot and the billing period that give `mentee` exactly their sessions so far."""
    zone = ZoneInfo(mentee.zone)
    local_now = now.astimezone(zone)
    if mentee.day == 0:  # happening now: it started at the last quarter hour
        anchor = local_now.replace(minute=local_now.minute // 15 * 15, second=0, microsecond=0)
    else:
        hour, minute = _local_time(mentee.at)
        day = (local_now + timedelta(days=mentee.day)).date()
        anchor = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
    # Wall-clock arithmetic (aware datetimes keep the local time), as the slot counts weeks.
    first = anchor - WEEK * max(len(mentee.sessions) - 1, 0)
    # The billing period began the day before the first session (or yesterday, for a
    # mentee whose first session is still ahead) and lasts 30 days.
    starts_at = min(first, local_now).astimezone(UTC).replace(microsecond=0) - timedelta(days=1)
    ends_at = starts_at + BILLING_PERIOD
    slot = Slot(
        weekday=anchor.weekday(),
        start_time=f"{anchor:%H:%M}",
        duration_minutes=mentee.duration_minutes,
        timezone=mentee.zone,
    )
    starts = tuple(start for start, _ in slot.occurrences(starts_at, ends_at))
    started = [s for s in starts if s <= now]
    if len(started) != len(mentee.sessions):
        raise DemoError(
            f"{mentee.name}: the slot gives {len(started)} sessions so far, "
            f"the story {len(mentee.sessions)}"
        )
    return Plan(mentee, slot, starts_at, ends_at, starts)


@dataclass(frozen=True)
class Expected:
    status: str
    absences: int
    consecutive_absences: int


def expected(mentee: Mentee, settings: Settings) -> Expected:
    """What the dashboard shows once the story has played: marks and joins count as
    attended, a sweep's absences are counted in session order."""
    streak, longest = 0, 0
    for outcome in mentee.sessions:
        if outcome == "missed":
            streak += 1
            longest = max(longest, streak)
        elif outcome in ("attended", "joins"):
            streak = 0
    reprobated = longest >= settings.reprobate_after_absences
    status = (
        "reprobated"
        if reprobated
        else "warned"
        if streak >= settings.warn_after_absences
        else "active"
    )
    return Expected(status, mentee.sessions.count("missed"), streak)


# --- the real edges ------------------------------------------------------------------


class Gateway:
    """The gateway's HTTP API, as each person (or Stripe) calls it."""

    def __init__(self, http: httpx.AsyncClient, settings: Settings) -> None:
        self.http = http
        self.settings = settings
        self._tokens: dict[tuple[Role, UUID], str] = {}

    def headers(self, role: Role, user_id: UUID) -> dict[str, str]:
        key = (role, user_id)
        if key not in self._tokens:
            expires_at = datetime.now(UTC) + timedelta(hours=1)
            self._tokens[key] = issue_token(self.settings.jwt_secret, user_id, role, expires_at)
        return {"Authorization": f"Bearer {self._tokens[key]}"}

    async def call(self, method: str, path: str, role: Role, user_id: UUID, **kwargs: Any) -> Any:
        response = await self.http.request(
            method, path, headers=self.headers(role, user_id), **kwargs
        )
        if response.status_code >= 300:
            raise DemoError(f"{method} {path} answered {response.status_code}: {response.text}")
        return response.json()

    async def stripe(self, event: dict[str, Any]) -> dict[str, Any]:
        """Deliver a Stripe event the way Stripe does: signed with the webhook secret."""
        payload = json.dumps(event)
        signature = stripe.WebhookSignature.generate_signature_header(
            payload, self.settings.stripe_webhook_secret, timestamp=int(time.time())
        )
        response = await self.http.post(
            "/webhooks/stripe",
            content=payload.encode(),
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        )
        if response.status_code != 200:
            raise DemoError(f"the Stripe webhook answered {response.status_code}: {response.text}")
        answer: dict[str, Any] = response.json()
        return answer

    async def bookings(self, mentee: Mentee) -> list[dict[str, Any]]:
        reply = await self.call("GET", "/api/mentee/bookings", "mentee", mentee.id)
        return list(reply["bookings"])

    async def subscribers(self, mentor: Mentor) -> dict[UUID, dict[str, Any]]:
        reply = await self.call("GET", "/api/mentor/subscribers", "mentor", mentor.id)
        return {UUID(s["mentee_id"]): s for s in reply["subscribers"]}


def subscription_created(plan: Plan) -> dict[str, Any]:
    """`customer.subscription.created` as Stripe (API 2026-10-28) sends it, with the
    mentorship in the metadata the gateway reads."""
    mentee, mentor = plan.mentee, plan.mentee.mentor
    start, end = int(plan.cycle_starts_at.timestamp()), int(plan.cycle_ends_at.timestamp())
    return {
        "id": f"evt_demo_{mentee.key}_created",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": start,
        "livemode": False,
        "pending_webhooks": 1,
        "type": "customer.subscription.created",
        "data": {
            "object": {
                "id": mentee.stripe_subscription_id,
                "object": "subscription",
                "customer": f"cus_demo_{mentee.key}",
                "status": "active",
                "cancel_at_period_end": False,
                "canceled_at": None,
                "ended_at": None,
                "items": {
                    "object": "list",
                    "has_more": False,
                    "data": [
                        {
                            "id": f"si_demo_{mentee.key}",
                            "object": "subscription_item",
                            "price": {
                                "id": "price_weekly_mentorship",
                                "object": "price",
                                "recurring": {"interval": "month"},
                            },
                            "quantity": 1,
                            "current_period_start": start,
                            "current_period_end": end,
                        }
                    ],
                },
                "metadata": {
                    "mentee_id": str(mentee.id),
                    "mentee_name": mentee.name,
                    "mentee_email": mentee.email,
                    "mentor_id": str(mentor.id),
                    "mentor_name": mentor.name,
                    "mentor_email": mentor.email,
                    "slot_weekday": str(plan.slot.weekday),
                    "slot_start_time": plan.slot.start_time,
                    "slot_duration_minutes": str(plan.slot.duration_minutes),
                    "slot_timezone": plan.slot.timezone,
                },
            }
        },
    }


def sign_in_link(gateway_url: str, mentor: Mentor) -> str:
    query = urlencode({"role": "mentor", "sub": str(mentor.id), "next": DASHBOARD}, safe="/")
    return f"{gateway_url}/dev/sign-in?{query}"


# --- the story ---------------------------------------------------------------------


async def _until(
    what: str,
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    within: float,
    *,
    describe: Callable[[T], str] = lambda value: repr(value)[:300],
) -> T:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await probe()
        if done(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise DemoError(f"not seen within {within:g} s: {what}; last seen: {describe(value)}")
        await asyncio.sleep(0.25)


def _at(moment: str | datetime) -> datetime:
    return datetime.fromisoformat(moment) if isinstance(moment, str) else moment


def _by_start(bookings: list[dict[str, Any]], plan: Plan) -> dict[datetime, dict[str, Any]]:
    """The mentee's bookings of this subscription's cycle, by start."""
    found = {_at(b["starts_at"]): b for b in bookings}
    return {s: found[s] for s in plan.starts if s in found}


async def run_demo(
    gateway_url: str,
    settings: Settings,
    *,
    story: tuple[Mentee, ...] = STORY,
    within: float = 60.0,
    say: Say = print,
) -> list[str]:
    """Play `story` against the gateway at `gateway_url`; return one sign-in link per mentor."""
    gateway_url = gateway_url.rstrip("/")
    mentors = list(dict.fromkeys(m.mentor for m in story))
    now = datetime.now(UTC)
    plans = [plan(mentee, now) for mentee in story]
    async with httpx.AsyncClient(base_url=gateway_url, timeout=15) as http:
        gateway = Gateway(http, settings)
        await _check_reachable(http, gateway_url)
        replay = await _already_played(gateway, mentors, story)
        if replay:
            say(f"The demo story is already in this system ({gateway_url}); nothing to add.")
        else:
            say(f"Playing the demo story on {gateway_url} (now {now:%Y-%m-%d %H:%M} UTC)")
            await _subscribe(gateway, plans, within, say)
            await _mark_attended(gateway, plans, within, say)
            await _sweep(gateway, plans, within, say)
            await _join(gateway, plans, within, say)
        await _settled(gateway, mentors, story, within, say, wait=not replay)
    return _links(gateway_url, settings, mentors, story, say)


async def _check_reachable(http: httpx.AsyncClient, gateway_url: str) -> None:
    try:
        response = await http.get("/healthz")
    except httpx.HTTPError as error:
        raise DemoError(
            f"no gateway at {gateway_url} ({error!r}): start the system with `make run` "
            "first, or point GATEWAY_URL at it"
        ) from error
    if response.status_code != 200:
        raise DemoError(f"the gateway at {gateway_url} is not healthy: {response.text}")


async def _already_played(
    gateway: Gateway, mentors: list[Mentor], story: tuple[Mentee, ...]
) -> bool:
    listed: set[UUID] = set()
    for mentor in mentors:
        listed |= set(await gateway.subscribers(mentor))
    return {m.id for m in story} <= listed


async def _subscribe(gateway: Gateway, plans: list[Plan], within: float, say: Say) -> None:
    """Stripe tells the gateway about each new subscription; booking books its cycle."""
    for p in plans:
        answer = await gateway.stripe(subscription_created(p))
        if answer.get("status") != "published":
            raise DemoError(f"{p.mentee.name}: the gateway did not take the webhook: {answer}")
        say(
            f"  subscribed  {p.mentee.name} ({p.mentee.zone}) with {p.mentee.mentor.name}: "
            f"{calendar.day_name[p.slot.weekday]}s {p.slot.start_time} local, billing period "
            f"{p.cycle_starts_at:%d %b} → {p.cycle_ends_at:%d %b}"
        )

    async def booked(p: Plan) -> None:
        bookings = await _until(
            f"{p.mentee.name}'s {len(p.starts)} bookings",
            lambda: gateway.bookings(p.mentee),
            lambda found: len(_by_start(found, p)) == len(p.starts),
            within,
            describe=lambda found: (
                f"{len(_by_start(found, p))} of them among {len(found)} bookings (an earlier "
                "run that did not finish? run it on a fresh MENTORSHIP_NAMESPACE)"
            ),
        )
        subscription_id = _by_start(bookings, p)[p.starts[0]]["subscription_id"]
        # Attendance learns the schedule from booking's events: wait until it has all of it.
        await _until(
            f"{p.mentee.name}'s bookings at attendance",
            lambda: gateway.call(
                "GET", f"/api/mentor/subscribers/{subscription_id}", "mentor", p.mentee.mentor.id
            ),
            lambda detail: len(detail["bookings"]) == len(p.starts),
            within,
        )

    await asyncio.gather(*(booked(p) for p in plans))
    say(f"  booked      {sum(len(p.starts) for p in plans)} sessions for {len(plans)} mentees")


async def _mark_attended(gateway: Gateway, plans: list[Plan], within: float, say: Say) -> None:
    """Mentors confirm the past sessions that took place (a mentor's mark is final)."""
    marked = 0
    for p in plans:
        bookings = _by_start(await gateway.bookings(p.mentee), p)
        if any(b["status"] == "unattended" for b in bookings.values()):
            raise DemoError(
                f"{p.mentee.name}'s past sessions were swept before their mentor could mark "
                "them (a scheduler tick came in between), so the story cannot play as written; "
                "run it again on a fresh MENTORSHIP_NAMESPACE"
            )
        for start in p.with_outcome("attended"):
            await gateway.call(
                "POST",
                f"/api/mentor/bookings/{bookings[start]['booking_id']}/attendance",
                "mentor",
                p.mentee.mentor.id,
                json={"attended": True},
            )
            marked += 1

    async def recorded(p: Plan) -> None:
        await _until(
            f"{p.mentee.name}'s marked sessions at booking",
            lambda: gateway.bookings(p.mentee),
            lambda found: all(
                _by_start(found, p)[s]["status"] == "attended" for s in p.with_outcome("attended")
            ),
            within,
        )

    await asyncio.gather(*(recorded(p) for p in plans))
    say(f"  marked      {marked} past sessions attended, by their mentors")


async def _sweep(gateway: Gateway, plans: list[Plan], within: float, say: Say) -> None:
    """The sweep records every past session nobody attended: warnings, reprobations."""
    admin = person_id("admin", "demo")
    tick = await gateway.call("POST", "/api/admin/sweep", "admin", admin)

    async def swept(p: Plan) -> None:
        await _until(
            f"{p.mentee.name}'s missed sessions swept",
            lambda: gateway.bookings(p.mentee),
            lambda found: all(
                _by_start(found, p)[s]["status"] == "unattended" for s in p.with_outcome("missed")
            ),
            within,
        )

    await asyncio.gather(*(swept(p) for p in plans))
    missed = sum(len(p.with_outcome("missed")) for p in plans)
    say(f"  swept       at {_at(tick['tick_at']):%H:%M:%S} UTC: {missed} sessions missed")


async def _join(gateway: Gateway, plans: list[Plan], within: float, say: Say) -> None:
    """Mentees whose session is on right now join it: attendance marks them present."""
    for p in plans:
        for start in p.with_outcome("joins"):
            await _join_one(gateway, p, start, within)
            say(
                f"  joined      {p.mentee.name}, the session that began at "
                f"{start.astimezone(p.slot.zone):%H:%M} {p.mentee.zone}"
            )


async def _join_one(gateway: Gateway, p: Plan, start: datetime, within: float) -> None:
    booking = _by_start(await gateway.bookings(p.mentee), p)[start]
    await gateway.call("POST", f"/api/bookings/{booking['booking_id']}/join", "mentee", p.mentee.id)
    await _until(
        f"{p.mentee.name}'s join",
        lambda: gateway.bookings(p.mentee),
        lambda found: _by_start(found, p)[start]["attended"] is True,
        within,
    )


async def _settled(
    gateway: Gateway,
    mentors: list[Mentor],
    story: tuple[Mentee, ...],
    within: float,
    say: Say,
    *,
    wait: bool = True,
) -> None:
    """Until every mentor's subscribers show what the story leads to; then show them."""
    for mentor in mentors:
        theirs = [m for m in story if m.mentor == mentor]
        subscribers = await _settled_for(gateway, mentor, theirs, within if wait else 0)
        say(f"{mentor.name}'s subscribers:")
        for mentee in theirs:
            s = subscribers[mentee.id]
            say(
                f"  {mentee.name:<16} {mentee.zone:<18} {s['status']:<10} "
                f"absences {s['absences']}, consecutive {s['consecutive_absences']}, "
                f"upcoming {s['upcoming_bookings']}"
            )


async def _settled_for(
    gateway: Gateway, mentor: Mentor, mentees: list[Mentee], within: float
) -> dict[UUID, dict[str, Any]]:
    if not within:
        return await gateway.subscribers(mentor)
    differences = partial(_differences, mentees=mentees, settings=gateway.settings)
    return await _until(
        f"{mentor.name}'s dashboard showing the story",
        partial(gateway.subscribers, mentor),
        lambda found: not differences(found),
        within,
        describe=lambda found: "; ".join(differences(found)),
    )


def _differences(
    found: dict[UUID, dict[str, Any]], mentees: list[Mentee], settings: Settings
) -> list[str]:
    """Where the subscribers `found` are not (yet) where the story leaves `mentees`."""
    differences = []
    for mentee in mentees:
        summary, want = found.get(mentee.id), expected(mentee, settings)
        if summary is None:
            differences.append(f"{mentee.name} not listed")
            continue
        shown = (summary["status"], summary["absences"], summary["consecutive_absences"])
        wanted = (want.status, want.absences, want.consecutive_absences)
        if shown != wanted:
            differences.append(
                f"{mentee.name}: (status, absences, consecutive) {shown}, expected {wanted}"
            )
        elif want.status == "reprobated" and summary["upcoming_bookings"] != 0:
            # The cancellation of the rest of the cycle is still on its way.
            differences.append(f"{mentee.name}: {summary['upcoming_bookings']} upcoming bookings")
    return differences


def _links(
    gateway_url: str,
    settings: Settings,
    mentors: list[Mentor],
    story: tuple[Mentee, ...],
    say: Say,
) -> list[str]:
    links = [sign_in_link(gateway_url, mentor) for mentor in mentors]
    if settings.jwt_secret != DEV_JWT_SECRET:
        say(
            "JWT_SECRET is not the development secret, so the gateway offers no sign-in page; "
            "print a token with `make token ROLE=mentor SUB=<id>` for these mentors:"
        )
        for mentor in mentors:
            say(f"  {mentor.name}: {mentor.id}")
        return links
    say("Open the dashboard as a mentor:")
    for mentor, link in zip(mentors, links, strict=True):
        count = sum(1 for m in story if m.mentor == mentor)
        say(f"  {mentor.name} ({count} subscribers): {link}")
    say("Or a mentee's own page (their sessions, Join, Cancel, Appeal):")
    for mentee in story:
        query = urlencode({"role": "mentee", "sub": str(mentee.id)})
        say(f"  {mentee.name} ({mentee.zone}): {gateway_url}/dev/sign-in?{query}")
    return links


def default_gateway_url(settings: Settings) -> str:
    host = "127.0.0.1" if settings.gateway_host in ("0.0.0.0", "::") else settings.gateway_host
    return os.environ.get("GATEWAY_URL") or f"http://{host}:{settings.gateway_port}"


def main() -> None:
    settings = Settings()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--gateway-url",
        default=default_gateway_url(settings),
        help="where `make run` serves the gateway (default: GATEWAY_URL, or GATEWAY_PORT)",
    )
    parser.add_argument(
        "--within", type=float, default=60.0, help="seconds to wait for each step to show"
    )
    args = parser.parse_args()
    try:
        asyncio.run(
            run_demo(
                args.gateway_url, settings, within=args.within, say=lambda s: print(s, flush=True)
            )
        )
    except DemoError as error:
        sys.exit(f"demo: {error}")


if __name__ == "__main__":
    main()

"""A subscription's own absence policy end to end (subscription.activated's `policy`,
from Stripe metadata): under the service's defaults one subscription is reprobated at
its second absence, and one that brought its own at its third, lifted by a tick days
later; the mentor's API says which policy is in force; a window rule (absences within
days) reprobates one who never missed twice in a row."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio

from contracts import (
    MenteeReactivated,
    MenteeReprobated,
    MenteeWarned,
    MentorPolicyChanged,
    SubscriptionActivated,
    SubscriptionPolicy,
)
from services.kit.settings import Settings
from tests.conftest import derived
from tests.e2e.conftest import system_with, tick
from tests.e2e.test_lifecycle import LIFECYCLE_KEYS, activate, people, subscriber
from tests.support.listening import listening
from tests.support.settling import service_settled
from tests.support.smtp import RecordingSMTPServer
from tests.support.waiting import eventually
from tests.support.world import User, user, weekly_subscription

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def own_settings(settings: Settings) -> Settings:
    return derived(settings, "ownpolicy")


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def gateway(
    own_settings: Settings, smtp: RecordingSMTPServer
) -> AsyncIterator[httpx.AsyncClient]:
    """The service defaults (a week later sweeps every session of the namespace, so the
    module has one of its own)."""
    async with system_with(own_settings, smtp, {}) as client:
        yield client


async def test_a_subscriptions_own_thresholds_and_ending_win_over_the_settings(
    own_settings: Settings, gateway: httpx.AsyncClient
) -> None:
    settings = own_settings
    mentee, mentor = people(settings)
    now = datetime.now(UTC).replace(microsecond=0)
    # Four absences within 30 days would reprobate too: three in a row come first.
    own = SubscriptionPolicy(
        reprobate_after_absences=3,
        reprobation_ends="after_days:2",
        reprobate_after_absences_in_days="4:30",
    )
    subs = {
        name: weekly_subscription(
            mentee,
            mentor,
            now=now,
            session_started_ago=timedelta(hours=3),
            past_sessions=2,
            future_sessions=2,
        ).model_copy(update={"policy": policy})
        for name, policy in (("settings", None), ("own", own))
    }
    for sub in subs.values():
        await activate(settings, gateway, sub, mentee, expected_bookings=4)

    async def known_to_attendance(sub: SubscriptionActivated) -> int:
        url = f"/api/mentor/subscribers/{sub.subscription_id}"
        return (await gateway.get(url, headers=mentor.headers)).status_code

    for sub in subs.values():  # the activation reaches attendance on a queue of its own
        await eventually(lambda s=sub: known_to_attendance(s), lambda code: code == 200)
    detail = await subscriber(gateway, mentor, subs["own"])
    assert (detail["policy_from"], detail["reprobate_after_absences"]) == ("subscription", 3)
    assert detail["reprobation_ends"] == "after_days:2"
    assert detail["reprobate_after_absences_in_days"] == "4:30"
    plain = await subscriber(gateway, mentor, subs["settings"])
    assert (plain["policy_from"], plain["reprobate_after_absences"]) == ("settings", 2)
    assert plain["reprobate_after_absences_in_days"] is None  # off in the settings

    mine, theirs = subs["own"].subscription_id, subs["settings"].subscription_id
    async with listening(settings, LIFECYCLE_KEYS) as bus:
        await tick(settings, now)
        await bus.wait_for(MenteeReprobated, subscription_id=theirs)
        await bus.wait_for(MenteeWarned, subscription_id=mine)
        # Both absences applied, and all attendance wrote about them heard: no reprobation.
        await eventually(
            lambda: subscriber(gateway, mentor, subs["own"]),
            lambda d: d["consecutive_absences"] == 2,
        )
        await service_settled(settings, "attendance", bus)
        assert bus.of(MenteeReprobated, subscription_id=mine) == []
        # A week later the third absence reprobates it; two days after, a tick lifts it.
        third = now + timedelta(weeks=1)
        await tick(settings, third)
        [reprobation] = await bus.wait_for(MenteeReprobated, subscription_id=mine)
        await tick(settings, reprobation.reprobated_at + timedelta(days=2))
        [lifted] = await bus.wait_for(MenteeReactivated, subscription_id=mine)
        assert bus.of(MenteeReactivated, subscription_id=theirs) == []  # only the mentor's
    assert reprobation.reprobated_at == third
    assert len(reprobation.missed_booking_ids) == 3
    assert (lifted.lifted_by, lifted.reactivated_at) == ("expiry", third + timedelta(days=2))


async def test_absences_within_days_reprobate_one_who_never_missed_twice_in_a_row(
    own_settings: Settings, gateway: httpx.AsyncClient
) -> None:
    """A subscription that reprobates at 2 absences within 15 days (and only at 9 in a
    row): absent, present, absent over three weeks reprobates it under the window rule,
    and the subscriber's history says which rule it was."""
    settings = own_settings
    mentee, mentor = people(settings)
    now = datetime.now(UTC).replace(microsecond=0)
    own = SubscriptionPolicy(reprobate_after_absences=9, reprobate_after_absences_in_days="2:15")
    sub = weekly_subscription(
        mentee,
        mentor,
        now=now,
        session_started_ago=timedelta(hours=3),
        past_sessions=3,
        future_sessions=2,
    ).model_copy(update={"policy": own})
    await activate(settings, gateway, sub, mentee, expected_bookings=5)
    path = f"/api/mentor/subscribers/{sub.subscription_id}"
    await eventually(
        lambda: gateway.get(path, headers=mentor.headers), lambda r: r.status_code == 200
    )
    first, middle, last = sorted(
        (await subscriber(gateway, mentor, sub))["bookings"], key=lambda b: b["starts_at"]
    )[:3]
    present = await gateway.post(
        f"/api/mentor/bookings/{middle['booking_id']}/attendance",
        json={"status": "present"},
        headers=mentor.headers,
    )
    assert present.status_code == 200, present.text

    async with listening(settings, LIFECYCLE_KEYS) as bus:
        await tick(settings, now)
        [reprobation] = await bus.wait_for(MenteeReprobated, subscription_id=sub.subscription_id)
    assert reprobation.rule == "absences_in_days"
    assert reprobation.rule_detail == "2 absences within 15 days"
    assert [str(b) for b in reprobation.missed_booking_ids] == [
        first["booking_id"],
        last["booking_id"],
    ]
    history = await gateway.get(f"{path}/history", headers=mentor.headers)
    assert history.status_code == 200, history.text
    reasons = {h["kind"]: h["reason"] for h in history.json()["history"]}
    assert reasons["reprobation"] == "2 absences within 15 days"
    assert reasons["warning"] == "1 absence in a row"
    detail = await subscriber(gateway, mentor, sub)
    assert (detail["is_reprobated"], detail["consecutive_absences"]) == (True, 1)
    assert detail["reprobated_for"] == "2 absences within 15 days"


async def with_history(
    settings: Settings,
    gateway: httpx.AsyncClient,
    mentor: User,
    now: datetime,
    histories: dict[str, tuple[int, list[int]]],
) -> dict[str, tuple[SubscriptionActivated, list[dict[str, Any]]]]:
    """For each mentee's name, (weekly sessions up to three hours ago, the weeks the
    mentor marks present): a subscription with two sessions still ahead, activated and
    known to attendance, those weeks marked; each with its bookings by start."""
    made = {}
    for name, (past, attended) in histories.items():
        mentee = user(settings.jwt_secret, "mentee", name)
        sub = weekly_subscription(
            mentee,
            mentor,
            now=now,
            session_started_ago=timedelta(hours=3),
            past_sessions=past,
            future_sessions=2,
        )
        await activate(settings, gateway, sub, mentee, expected_bookings=past + 2)
        path = f"/api/mentor/subscribers/{sub.subscription_id}"
        await eventually(
            lambda p=path: gateway.get(p, headers=mentor.headers), lambda r: r.status_code == 200
        )
        weeks = sorted(
            (await subscriber(gateway, mentor, sub))["bookings"], key=lambda b: b["starts_at"]
        )
        for week in attended:
            marked = await gateway.post(
                f"/api/mentor/bookings/{weeks[week]['booking_id']}/attendance",
                json={"status": "present"},
                headers=mentor.headers,
            )
            assert marked.status_code == 200, marked.text
        made[name] = (sub, weeks)
    return made


async def test_a_mentor_previews_a_policy_on_real_history_and_nothing_changes(
    own_settings: Settings, gateway: httpx.AsyncClient
) -> None:
    """Ana missed weeks 0 and 2 (attended week 1), Bruno weeks 0 and 1; two sessions of
    each are still ahead. Under the defaults (warned at 1, reprobated at 2 in a row) Ana
    was warned twice and Bruno warned and reprobated. Proposed: 3 in a row, or 2
    absences within 15 days. Counted by hand: Ana would be reprobated at week 2 by the
    window and Bruno at week 1 by the window instead of the streak; 2 sessions each
    after it cancelled."""
    settings = own_settings
    mentor = user(settings.jwt_secret, "mentor", "Otto Mentor")
    admin = user(settings.jwt_secret, "admin", "Ada Admin")
    now = datetime.now(UTC).replace(microsecond=0)
    made = await with_history(
        settings, gateway, mentor, now, {"Ana Preview": (3, [1]), "Bruno Preview": (2, [])}
    )
    subs = {"ana": made["Ana Preview"][0], "bruno": made["Bruno Preview"][0]}
    ana_weeks = made["Ana Preview"][1]
    ana_id, bruno_id = (s.subscription_id for s in subs.values())
    async with listening(settings, LIFECYCLE_KEYS) as bus:
        await tick(settings, now)
        await bus.wait_for(MenteeReprobated, subscription_id=bruno_id)
        await bus.wait_for(MenteeWarned, subscription_id=ana_id, count=2)

    proposal = {"reprobate_after_absences": 3, "reprobate_after_absences_in_days": "2:15"}
    response = await gateway.post(
        "/api/mentor/policy/preview", json=proposal, headers=mentor.headers
    )
    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["subscriptions"] == 2
    assert preview["current"] == {
        "mentees_warned": 2,
        "warnings": 3,
        "mentees_reprobated": 1,
        "cancelled_sessions": 2,
    }
    assert preview["proposed"] == {
        "mentees_warned": 2,
        "warnings": 3,
        "mentees_reprobated": 2,
        "cancelled_sessions": 4,
    }
    by_name = {s["mentee_name"]: s for s in preview["subscribers"]}
    ana_now, ana_then = by_name["Ana Preview"]["current"], by_name["Ana Preview"]["proposed"]
    assert ana_now["reprobation"] is None
    assert [w["booking_id"] for w in ana_now["warnings"]] == [
        ana_weeks[0]["booking_id"],
        ana_weeks[2]["booking_id"],
    ]
    assert ana_then["reprobation"]["rule"] == "absences_in_days"
    assert ana_then["reprobation"]["detail"] == "2 absences within 15 days"
    assert [m["booking_id"] for m in ana_then["reprobation"]["missed"]] == [
        ana_weeks[0]["booking_id"],
        ana_weeks[2]["booking_id"],
    ]
    bruno_now = by_name["Bruno Preview"]["current"]["reprobation"]
    bruno_then = by_name["Bruno Preview"]["proposed"]["reprobation"]
    assert (bruno_now["rule"], bruno_then["rule"]) == ("consecutive", "absences_in_days")
    assert bruno_now["reprobated_at"] == bruno_then["reprobated_at"]
    assert all(s["changed"] for s in preview["subscribers"])

    # Nothing was decided by it: Ana is still only warned.
    detail = await subscriber(gateway, mentor, subs["ana"])
    assert detail["is_reprobated"] is False

    malformed = await gateway.post(
        "/api/mentor/policy/preview",
        json={"reprobate_after_absences_in_days": "2"},
        headers=mentor.headers,
    )
    assert malformed.status_code == 422 and "N:D" in malformed.text
    assert (
        await gateway.post("/api/admin/policy/preview", json=proposal, headers=mentor.headers)
    ).status_code == 403
    platform = await gateway.post("/api/admin/policy/preview", json=proposal, headers=admin.headers)
    assert platform.status_code == 200, platform.text
    listed = {s["subscription_id"]: s for s in platform.json()["subscribers"]}
    assert listed[str(ana_id)] == by_name["Ana Preview"]
    assert platform.json()["subscriptions"] >= 2


async def test_a_mentor_previews_applies_their_own_policy_and_it_judges_what_comes_after(
    own_settings: Settings, gateway: httpx.AsyncClient
) -> None:
    """Carla missed weeks 0 and 2 (attended 1); Dan weeks 0, 2 and 4 (attended 1 and 3).
    The mentor previews "3 absences within 30 days" (and 5 in a row): by hand, Dan would have been
    reprobated at week 4 (28 days), his 2 sessions ahead cancelled; Carla not. Applied,
    it reprobates nobody by itself; the next absence of each (a week later) does."""
    settings = own_settings
    mentor = user(settings.jwt_secret, "mentor", "Paula Policy")
    now = datetime.now(UTC).replace(microsecond=0)
    made = await with_history(
        settings, gateway, mentor, now, {"Carla Policy": (3, [1]), "Dan Policy": (5, [1, 3])}
    )
    subs = {"carla": made["Carla Policy"][0], "dan": made["Dan Policy"][0]}
    carla_id, dan_id = subs["carla"].subscription_id, subs["dan"].subscription_id
    async with listening(settings, LIFECYCLE_KEYS) as bus:
        await tick(settings, now)
        await bus.wait_for(MenteeWarned, subscription_id=carla_id, count=2)
        await bus.wait_for(MenteeWarned, subscription_id=dan_id, count=3)

    # With 5 in a row, so that only the window reprobates here.
    window = {"reprobate_after_absences": 5, "reprobate_after_absences_in_days": "3:30"}
    previewed = await gateway.post(
        "/api/mentor/policy/preview", json=window, headers=mentor.headers
    )
    assert previewed.status_code == 200, previewed.text
    figures = previewed.json()
    assert figures["current"] == {
        "mentees_warned": 2,
        "warnings": 5,
        "mentees_reprobated": 0,
        "cancelled_sessions": 0,
    }
    assert figures["proposed"] == {
        "mentees_warned": 2,
        "warnings": 5,
        "mentees_reprobated": 1,
        "cancelled_sessions": 2,
    }
    by_name = {s["mentee_name"]: s for s in figures["subscribers"]}
    assert by_name["Dan Policy"]["proposed"]["reprobation"]["detail"] == (
        "3 absences within 30 days"
    )
    assert by_name["Carla Policy"]["changed"] is False

    before = await gateway.get("/api/mentor/policy", headers=mentor.headers)
    assert before.status_code == 200 and before.json()["policy"] is None
    assert before.json()["settings"]["reprobate_after_absences"] == 2
    async with listening(settings, [*LIFECYCLE_KEYS, "mentor.policy_changed"]) as bus:
        applied = await gateway.put("/api/mentor/policy", json=window, headers=mentor.headers)
        assert applied.status_code == 200, applied.text
        set_fields = {k: v for k, v in applied.json()["policy"].items() if v is not None}
        assert set_fields == window
        assert applied.json()["subscriptions"] == 2
        [changed] = await bus.wait_for(MentorPolicyChanged, mentor_id=mentor.person.id)
        assert set(changed.subscription_ids) == {carla_id, dan_id}
        again = await gateway.put("/api/mentor/policy", json=window, headers=mentor.headers)
        assert again.json()["since"] == applied.json()["since"]  # the same: nothing new
        await service_settled(settings, "attendance", bus)
        assert bus.of(MenteeReprobated) == []  # the edit reprobates nobody by itself
        assert len(bus.of(MentorPolicyChanged, mentor_id=mentor.person.id)) == 1

        await tick(settings, now + timedelta(weeks=1))
        for sub_id in (carla_id, dan_id):
            [reprobation] = await bus.wait_for(MenteeReprobated, subscription_id=sub_id)
            assert (reprobation.rule, reprobation.rule_detail) == (
                "absences_in_days",
                "3 absences within 30 days",
            )
            # At that absence: Dan's weeks 0, 2 and 4 met it before the edit, and stay
            # judged by the policy then in force.
            assert reprobation.reprobated_at == now + timedelta(weeks=1)
    detail = await subscriber(gateway, mentor, subs["carla"])
    assert (detail["policy_from"], detail["reprobate_after_absences_in_days"]) == ("mentor", "3:30")
    assert detail["is_reprobated"] is True
    history = await gateway.get(
        f"/api/mentor/subscribers/{carla_id}/history", headers=mentor.headers
    )
    lines = [(h["kind"], h["reason"]) for h in history.json()["history"]]
    assert (
        "policy",
        "from now on: reprobated after 5 absences in a row; "
        "reprobated after 3 absences within 30 days",
    ) in lines
    assert lines[-1] == ("reprobation", "3 absences within 30 days")

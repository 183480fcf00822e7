"""A subscription's own absence policy over the service's (Stripe metadata or
`subscription.activated`'s `policy`): what it sets wins, what it leaves falls back."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from contracts import MenteeReactivated, MenteeWarned, SubscriptionPolicy
from contracts.policy import AbsencesInDays, ReprobationEnds
from services.attendance.domain import Policy
from services.attendance.replies import summary
from services.attendance.store import Subscriber
from tests.unit.test_attendance_record import POLICY, absent, kinds, run, subscription
from tests.unit.test_reprobation_ends import panel


def test_what_the_subscription_sets_wins_and_the_rest_falls_back() -> None:
    own = SubscriptionPolicy(reprobate_after_absences=3, reprobation_ends="after_days:5")
    policy = POLICY.under(own)
    assert (policy.warn_after, policy.reprobate_after) == (POLICY.warn_after, 3)
    assert policy.reprobation_ends == ReprobationEnds("after_days", 5)
    assert policy.review_window == POLICY.review_window
    assert POLICY.under(None) is POLICY
    assert POLICY.under(SubscriptionPolicy(reprobation_review_hours=0)).review_window == (
        timedelta()
    )
    reviewed = replace(POLICY, review_window=timedelta(hours=24))
    assert reviewed.under(SubscriptionPolicy(reprobation_review_hours=0)).review_window == (
        timedelta()
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"reprobate_after_absences": 0},
        {"warn_after_absences": -1},
        {"reprobation_review_hours": -2},
        {"reprobation_ends": "sometimes"},
    ],
)
def test_a_policy_out_of_range_is_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SubscriptionPolicy.model_validate(fields)


def test_a_record_decides_under_its_own_policy() -> None:
    base = replace(
        subscription(),
        policy=SubscriptionPolicy(reprobate_after_absences=3, reprobation_ends="after_days:5"),
    )
    two, events = run(base, absent(base, 0), absent(base, 1), policy=POLICY)
    assert kinds(events) == ["mentee.warned"] and not two.is_reprobated
    [warning] = events  # says the subscription's threshold, not the service's
    assert isinstance(warning, MenteeWarned) and warning.reprobate_after_absences == 3
    three, events = run(two, absent(two, 2), policy=POLICY)
    assert kinds(events) == ["mentee.reprobated"] and three.reprobated_at is not None
    lifts = three.reprobated_at + timedelta(days=5)
    assert three.reprobation_lifts_at == lifts  # kept, for the tick's query
    # The service's policy says only the mentor lifts it; the subscription's says 5 days.
    assert isinstance(POLICY, Policy) and POLICY.reprobation_ends.kind == "on_reactivation"
    [lifted] = three.lift_expired(lifts, POLICY).events
    assert isinstance(lifted, MenteeReactivated) and lifted.lifted_by == "expiry"


def test_the_subscriber_page_names_the_policy_in_force_and_whose_it_is() -> None:
    own = panel(
        warn_after_absences=1,
        reprobate_after_absences=3,
        reprobation_review_hours=12,
        policy_from="subscription",
    )
    assert "Policy (this subscription's own)" in own
    assert (
        "warned after 1 absence, reprobated after 3 in a row, once you have had 12 hours "
        "to review it" in own
    )
    settings = panel(warn_after_absences=2, reprobate_after_absences=2)
    assert "(this subscription's own)" not in settings
    assert "warned after 2 absences, reprobated after 2 in a row" in settings


def test_the_subscriber_page_names_the_rules_beside_the_consecutive_ones_when_on() -> None:
    every_rule = panel(
        warn_after_absences=1,
        reprobate_after_absences=2,
        warn_after_absences_in_days="2:14",
        reprobate_after_absences_in_days="3:30",
        warn_below_attendance_rate=75,
        attendance_rate_sessions=10,
    )
    assert (
        "warned after 1 absence, after 2 absences within 14 days, or when attendance over "
        "the last 10 sessions falls below 75%; reprobated after 2 in a row or after 3 "
        "absences within 30 days" in every_rule
    )
    # Beside other counts, the warning threshold says its absences are in a row; the
    # review window still closes the sentence.
    one_rule = panel(
        warn_after_absences=2,
        reprobate_after_absences=3,
        reprobate_after_absences_in_days="4:60",
        reprobation_review_hours=12,
    )
    assert (
        "warned after 2 absences in a row; reprobated after 3 in a row or after 4 absences "
        "within 60 days, once you have had 12 hours to review it" in one_rule
    )
    rate_only = panel(warn_below_attendance_rate=62.5, attendance_rate_sessions=1)
    assert (
        "warned after 1 absence or when attendance over the last session falls below 62.5%; "
        "reprobated after 2 in a row" in rate_only
    )


def summarised_policy(
    own: SubscriptionPolicy | None, service: Policy = POLICY
) -> dict[str, object]:
    """The policy fields of the summary attendance gives the gateway for a subscriber
    whose subscription brought `own`."""
    now = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
    subscriber = Subscriber(
        subscription_id=uuid.uuid4(),
        mentee_id=uuid.uuid4(),
        mentor_id=uuid.uuid4(),
        mentee_name="Maria Mentee",
        mentee_email="maria@example.com",
        slot_timezone="UTC",
        ended=False,
        is_reprobated=False,
        reprobated_at=None,
        reactivated_at=None,
        mentor_policy=None,
        reprobated_for=None,
        reprobation_due_at=None,
        reprobation_lifts_at=None,
        cycle_starts_at=now,
        cycle_ends_at=now + timedelta(days=28),
        policy=own,
        consecutive_absences=0,
        absences=0,
        mentor_no_shows=0,
        upcoming_bookings=4,
        next_booking_at=None,
        last_attended_at=None,
        open_appeals=0,
        mentor_timezone=None,
    )
    return summary(subscriber, service).model_dump(
        include={
            "warn_after_absences_in_days",
            "reprobate_after_absences_in_days",
            "warn_below_attendance_rate",
            "attendance_rate_sessions",
            "policy_from",
        }
    )


def test_the_mentor_reads_the_rules_in_force_and_null_for_those_off() -> None:
    off = dict.fromkeys(
        (
            "warn_after_absences_in_days",
            "reprobate_after_absences_in_days",
            "warn_below_attendance_rate",
            "attendance_rate_sessions",  # the rate rule is off: its sessions say nothing
        )
    )
    assert summarised_policy(None) == off | {"policy_from": "settings"}
    service = replace(
        POLICY, warn_after_in_days=AbsencesInDays(2, 14), warn_below_rate=75, rate_sessions=8
    )
    own = SubscriptionPolicy(reprobate_after_absences_in_days="3:30", attendance_rate_sessions=4)
    assert summarised_policy(own, service) == {
        "warn_after_absences_in_days": "2:14",  # the service's
        "reprobate_after_absences_in_days": "3:30",  # the subscription's own
        "warn_below_attendance_rate": 75,
        "attendance_rate_sessions": 4,
        "policy_from": "subscription",
    }


def test_the_lifting_day_fixed_at_reprobation_holds_when_the_policy_changes() -> None:
    base = replace(subscription(), policy=SubscriptionPolicy(reprobation_ends="after_days:5"))
    reprobated, _ = run(base, absent(base, 0), absent(base, 1), policy=POLICY)
    lifts = reprobated.reprobation_lifts_at
    assert lifts is not None
    # The subscription's policy is gone (say, the operator's setting changed instead).
    changed = replace(reprobated, policy=None)
    [lifted] = changed.lift_expired(lifts, POLICY).events
    assert isinstance(lifted, MenteeReactivated) and lifted.reactivated_at == lifts
    assert changed.lift_expired(lifts - timedelta(seconds=1), POLICY).events == ()

"""A subscription's own absence policy over the service's (Stripe metadata or
`subscription.activated`'s `policy`): what it sets wins, what it leaves falls back."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from pydantic import ValidationError

from contracts import MenteeReactivated, MenteeWarned, SubscriptionPolicy
from contracts.policy import ReprobationEnds
from services.attendance.domain import Policy
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

"""Stripe events mapped to ours, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts import SubscriptionActivated, SubscriptionEnded, SubscriptionRenewed
from services.gateway.stripe_events import MetadataError, subscription_id_for, to_contract
from tests.support.stripe_payloads import (
    METADATA,
    PERIOD_END,
    PERIOD_START,
    event,
    paid_invoice,
    subscription,
)


@pytest.mark.parametrize(
    "period_on_items", [True, False], ids=["period-on-items", "period-on-subscription"]
)
def test_a_created_subscription_activates_with_its_billing_period(period_on_items: bool) -> None:
    stripe_event = event(
        "customer.subscription.created", subscription("sub_1", period_on_items=period_on_items)
    )
    activated = to_contract(stripe_event)
    assert isinstance(activated, SubscriptionActivated)
    assert activated.subscription_id == subscription_id_for("sub_1")
    assert activated.stripe_subscription_id == "sub_1"
    assert activated.cycle_starts_at == datetime.fromtimestamp(PERIOD_START, UTC)
    assert activated.cycle_ends_at == datetime.fromtimestamp(PERIOD_END, UTC)
    assert activated.mentee.email == "maria@example.com" and activated.mentor.name == "Otto Berg"
    assert (activated.slot.weekday, activated.slot.start_time, activated.slot.timezone) == (
        0,
        "18:00",
        "Europe/Lisbon",
    )


def test_the_same_stripe_event_always_maps_to_the_same_event_id() -> None:
    stripe_event = event("customer.subscription.created", subscription("sub_2"))
    first, second = to_contract(stripe_event), to_contract(dict(stripe_event))
    assert first is not None and second is not None and first.event_id == second.event_id


def test_an_update_with_a_new_period_renews_and_other_updates_are_ignored() -> None:
    next_start, next_end = PERIOD_END, PERIOD_END + 30 * 86400
    sub = subscription("sub_3", start=next_start, end=next_end)
    renewed = to_contract(
        event(
            "customer.subscription.updated",
            sub,
            previous_attributes={"items": {"data": [{"current_period_start": PERIOD_START}]}},
        )
    )
    assert isinstance(renewed, SubscriptionRenewed)
    assert renewed.cycle_ends_at == datetime.fromtimestamp(next_end, UTC)
    metadata_only = event(
        "customer.subscription.updated", sub, previous_attributes={"metadata": {}}
    )
    assert to_contract(metadata_only) is None


def test_a_paid_renewal_invoice_renews_and_the_first_invoice_does_not() -> None:
    renewal = to_contract(event("invoice.paid", paid_invoice("sub_4", PERIOD_END, PERIOD_END + 99)))
    assert isinstance(renewal, SubscriptionRenewed)
    assert renewal.subscription_id == subscription_id_for("sub_4")
    first = event(
        "invoice.paid", paid_invoice("sub_4", PERIOD_START, PERIOD_END, "subscription_create")
    )
    assert to_contract(first) is None


def test_a_deleted_subscription_ends() -> None:
    sub = subscription("sub_5") | {"status": "canceled", "ended_at": PERIOD_START + 3600}
    ended = to_contract(event("customer.subscription.deleted", sub))
    assert isinstance(ended, SubscriptionEnded)
    assert ended.ended_at == datetime.fromtimestamp(PERIOD_START + 3600, UTC)


def test_unknown_event_types_are_ignored() -> None:
    assert to_contract(event("charge.succeeded", {"id": "ch_1", "object": "charge"})) is None


@pytest.mark.parametrize(
    "metadata",
    [
        {},
        {**METADATA, "slot_timezone": "Nowhere/Land"},
        {**METADATA, "mentee_email": "not-an-email"},
    ],
    ids=["missing", "bad-timezone", "bad-email"],
)
def test_missing_or_malformed_metadata_is_an_error_an_operator_can_read(
    metadata: dict[str, str],
) -> None:
    with pytest.raises(MetadataError, match="metadata"):
        to_contract(
            event("customer.subscription.created", subscription("sub_6", metadata=metadata))
        )


@pytest.mark.parametrize(
    ("stripe_event", "reason"),
    [
        ([], "the event is not an object"),
        ({**event("customer.subscription.deleted", {})} | {"id": None}, "id is not a Stripe id"),
        (event("customer.subscription.created", "sub_x"), "data.object is not an object"),  # type: ignore[arg-type]
        (
            event("customer.subscription.created", subscription("sub_x", metadata=[])),  # type: ignore[arg-type]
            "metadata is not an object",
        ),
        (event("customer.subscription.deleted", {"ended_at": PERIOD_END}), "data.object.id"),
        (
            event("invoice.paid", paid_invoice("sub_x", PERIOD_START, 3093527980800)),
            "between 2000 and 2100",
        ),
        (event("invoice.paid", paid_invoice("sub_x", -5, PERIOD_END)), "between 2000 and 2100"),
        (
            event("invoice.paid", paid_invoice("sub_x", PERIOD_START, PERIOD_END) | {"lines": 1}),
            "lines is not an object",
        ),
    ],
    ids=[
        "array",
        "no-id",
        "object-a-string",
        "metadata-a-list",
        "no-object-id",
        "year-99999",
        "negative-time",
        "lines-a-number",
    ],
)
def test_an_event_of_the_wrong_shape_is_an_error_an_operator_can_read(
    stripe_event: object, reason: str
) -> None:
    with pytest.raises(MetadataError, match=reason):
        to_contract(stripe_event)


def test_a_name_with_a_line_break_is_bad_metadata() -> None:
    metadata = {**METADATA, "mentee_name": "Eve\nBcc: x@y"}
    with pytest.raises(MetadataError, match=r"metadata .* mentee\.name: .*line breaks"):
        to_contract(
            event("customer.subscription.created", subscription("sub_7", metadata=metadata))
        )


def activated_with(policy_metadata: dict[str, str]) -> SubscriptionActivated:
    metadata = METADATA | policy_metadata
    activated = to_contract(
        event("customer.subscription.created", subscription("sub_p", metadata=metadata))
    )
    assert isinstance(activated, SubscriptionActivated)
    return activated


def test_policy_metadata_becomes_the_subscriptions_own_policy() -> None:
    activated = activated_with(
        {
            "policy_reprobate_after_absences": "3",
            "policy_reprobation_review_hours": "12",
            "policy_reprobation_ends": "after_days:14",
        }
    )
    assert activated.policy is not None
    assert activated.policy.reprobate_after_absences == 3
    assert activated.policy.reprobation_review_hours == 12
    assert activated.policy.reprobation_ends == "after_days:14"
    assert activated.policy.warn_after_absences is None  # the setting applies
    plain = to_contract(event("customer.subscription.created", subscription("sub_q")))
    assert isinstance(plain, SubscriptionActivated) and plain.policy is None


def test_policy_metadata_sets_the_rules_beside_the_consecutive_ones() -> None:
    activated = activated_with(
        {
            "policy_warn_after_absences_in_days": "2:14",
            "policy_reprobate_after_absences_in_days": " 3:30",
            "policy_warn_below_attendance_rate": "75",
            "policy_attendance_rate_sessions": "8",
        }
    )
    assert activated.policy is not None
    assert activated.policy.warn_after_absences_in_days == "2:14"
    assert activated.policy.reprobate_after_absences_in_days == "3:30"  # as the contract writes it
    assert activated.policy.warn_below_attendance_rate == 75
    assert activated.policy.attendance_rate_sessions == 8
    assert activated.policy.reprobate_after_absences is None  # the setting applies


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("policy_reprobate_after_absences", "0"),
        ("policy_warn_after_absences", "often"),
        ("policy_reprobation_review_hours", "-1"),
        ("policy_reprobation_ends", "never"),
        ("policy_reprobate_after_absences_in_days", "3"),
        ("policy_warn_after_absences_in_days", "0:30"),
        ("policy_warn_below_attendance_rate", "120"),
        ("policy_attendance_rate_sessions", "0"),
    ],
)
def test_a_malformed_policy_is_bad_metadata_an_operator_can_read(key: str, value: str) -> None:
    metadata = METADATA | {key: value}
    with pytest.raises(MetadataError, match=key.removeprefix("policy_")):
        to_contract(
            event("customer.subscription.created", subscription("sub_r", metadata=metadata))
        )


def test_the_mentors_time_zone_comes_from_the_metadata_and_is_optional() -> None:
    metadata = METADATA | {"mentor_timezone": "America/Sao_Paulo"}
    activated = to_contract(
        event("customer.subscription.created", subscription("sub_z", metadata=metadata))
    )
    assert isinstance(activated, SubscriptionActivated)
    assert activated.mentor.timezone == "America/Sao_Paulo"
    assert activated.slot.timezone == "Europe/Lisbon"  # the mentee's slot keeps its own
    for without in (METADATA, METADATA | {"mentor_timezone": ""}):
        plain = to_contract(
            event("customer.subscription.created", subscription("sub_y", metadata=without))
        )
        assert isinstance(plain, SubscriptionActivated) and plain.mentor.timezone is None


def test_an_unknown_mentor_time_zone_is_bad_metadata_an_operator_can_read() -> None:
    metadata = METADATA | {"mentor_timezone": "Mars/Olympus_Mons"}
    with pytest.raises(MetadataError, match=r"mentor\.timezone: .*Mars/Olympus_Mons"):
        to_contract(
            event("customer.subscription.created", subscription("sub_w", metadata=metadata))
        )

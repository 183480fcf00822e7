"""REPROBATION_ENDS: what lifts a reprobation besides the mentor, as a policy value,
a setting, and what a `Record` does with it (times as data)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from contracts import MenteeReactivated, SubscriptionRenewed
from contracts.policy import ReprobationEnds
from contracts.rpc import SubscriberDetail
from services.attendance.domain import Policy, Record, reprobation_lifts_at
from services.gateway.dashboard import reprobation_ends, templates
from services.kit.settings import Settings
from tests.unit.test_attendance_record import POLICY, absent, run, subscription

AT_RENEWAL = replace(POLICY, reprobation_ends=ReprobationEnds("at_renewal"))
AFTER_10_DAYS = replace(POLICY, reprobation_ends=ReprobationEnds("after_days", 10))


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("on_reactivation", ReprobationEnds()),
        ("at_renewal", ReprobationEnds("at_renewal")),
        (" AFTER_DAYS:14 ", ReprobationEnds("after_days", 14)),
    ],
)
def test_the_policy_reads_its_three_forms(text: str, parsed: ReprobationEnds) -> None:
    assert ReprobationEnds.parse(text) == parsed
    assert ReprobationEnds.parse(str(parsed)) == parsed


@pytest.mark.parametrize("text", ["", "never", "after_days", "after_days:0", "after_days:1.5"])
def test_a_malformed_policy_is_refused_in_words(text: str) -> None:
    with pytest.raises(ValueError, match="expected on_reactivation, at_renewal or after_days:N"):
        ReprobationEnds.parse(text)
    with pytest.raises(ValidationError, match="after_days:N"):
        Settings(reprobation_ends=text)


def test_the_setting_defaults_to_the_mentors_reactivation() -> None:
    assert Settings().reprobation_ends_policy == ReprobationEnds("on_reactivation")
    assert Settings(reprobation_ends="after_days:7").reprobation_ends == "after_days:7"


def reprobated(policy: Policy) -> Record:
    base = subscription()
    record, _ = run(base, absent(base, 0), absent(base, 1), policy=policy)
    assert record.is_reprobated and record.reprobated_at is not None
    return record


def renewal(record: Record) -> SubscriptionRenewed:
    starts = record.cycle_ends_at
    return SubscriptionRenewed(
        occurred_at=starts,
        subscription_id=record.subscription_id,
        cycle_starts_at=starts,
        cycle_ends_at=starts + timedelta(weeks=4),
    )


def test_at_renewal_a_paid_renewal_lifts_the_reprobation_from_the_new_cycles_start() -> None:
    record = reprobated(AT_RENEWAL)
    msg = renewal(record)
    change = record.renew(msg, AT_RENEWAL)
    [event] = change.events
    assert isinstance(event, MenteeReactivated)
    assert (event.lifted_by, event.reactivated_at) == ("renewal", msg.cycle_starts_at)
    assert event.cycle_ends_at == msg.cycle_ends_at and event.reactivated_by == record.mentor_id
    assert not change.record.is_reprobated and change.record.consecutive_absences == 0
    assert change.outcome == "cycle renewed; reprobation lifted"
    [entry] = change.history
    assert (entry.kind, entry.actor, entry.old_status, entry.new_status) == (
        "reactivation",
        "system",
        "reprobated",
        "active",
    )
    again = change.record.renew(msg, AT_RENEWAL)
    assert again.events == () and again.outcome == "cycle already covered"


def test_a_renewal_lifts_nothing_under_another_policy_or_for_a_reprobation_in_its_cycle() -> None:
    record = reprobated(AT_RENEWAL)
    assert record.renew(renewal(record), POLICY).events == ()
    assert record.renew(renewal(record), AFTER_10_DAYS).events == ()
    # The renewal's message came late: the reprobation fell within the new cycle.
    assert record.reprobated_at is not None
    late = renewal(record).model_copy(
        update={"cycle_starts_at": record.reprobated_at - timedelta(days=1)}
    )
    assert record.renew(late, AT_RENEWAL).events == ()
    ended = replace(record, ended=True)
    assert ended.renew(renewal(record), AT_RENEWAL).events == ()


def test_after_days_the_first_tick_at_or_after_the_day_lifts_it_as_of_that_day() -> None:
    record = reprobated(AFTER_10_DAYS)
    assert record.reprobated_at is not None
    due = record.reprobated_at + timedelta(days=10)
    assert reprobation_lifts_at(AFTER_10_DAYS, record.reprobated_at, record.cycle_ends_at) == due
    early = record.lift_expired(due - timedelta(minutes=1), AFTER_10_DAYS)
    assert early.events == () and early.outcome == "no reprobation to lift"
    on_time = record.lift_expired(due, AFTER_10_DAYS)
    late = record.lift_expired(due + timedelta(days=3), AFTER_10_DAYS)
    assert on_time.events == late.events  # a late tick lifts the same, as of the same day
    [event] = on_time.events
    assert isinstance(event, MenteeReactivated)
    assert (event.lifted_by, event.reactivated_at) == ("expiry", due)
    assert on_time.outcome == "reprobation lifted after 10 days"
    assert on_time.record.lift_expired(due + timedelta(days=4), AFTER_10_DAYS).events == ()


def test_a_tick_lifts_nothing_under_other_policies_or_once_ended() -> None:
    for policy in (POLICY, AT_RENEWAL):
        record = reprobated(policy)
        assert record.reprobation_lifts_at is None
        far = record.cycle_ends_at + timedelta(days=100)
        assert record.lift_expired(far, policy).events == ()
    expiring = reprobated(AFTER_10_DAYS)
    far = expiring.cycle_ends_at + timedelta(days=100)
    assert replace(expiring, ended=True).lift_expired(far, AFTER_10_DAYS).events == ()


def test_when_a_reprobation_lifts_on_its_own_is_known_in_advance() -> None:
    record = reprobated(AT_RENEWAL)
    at = record.reprobated_at
    assert reprobation_lifts_at(AT_RENEWAL, at, record.cycle_ends_at) == record.cycle_ends_at
    assert reprobation_lifts_at(POLICY, at, record.cycle_ends_at) is None
    assert reprobation_lifts_at(AFTER_10_DAYS, None, record.cycle_ends_at) is None


def test_the_dashboard_says_what_lifts_a_reprobation() -> None:
    assert reprobation_ends("on_reactivation") == "when you reactivate"
    assert reprobation_ends("at_renewal") == "at the next paid renewal, or when you reactivate"
    assert (
        reprobation_ends("after_days:14") == "14 days after it is applied, or when you reactivate"
    )


def panel(**fields: object) -> str:
    subscriber = SubscriberDetail(
        subscription_id=uuid.uuid4(),
        mentee_id=uuid.uuid4(),
        mentee_name="Maria Mentee",
        mentee_email="maria@example.com",
        absences=2,
        consecutive_absences=2,
        is_reprobated=True,
        status="reprobated",
        upcoming_bookings=0,
        timezone="Europe/Lisbon",
        **fields,
    )
    # Read by a mentor whose browser is in Lisbon, as the mentee's slot.
    html = templates.env.get_template("_subscriber_panel.html").render(
        subscriber=subscriber, history=[], csrf_token="t", browser_zone="Europe/Lisbon"
    )
    return " ".join(html.split())


def test_the_subscriber_page_says_what_lifts_the_reprobation_and_when() -> None:
    lifts = datetime(2026, 7, 14, 17, 0, tzinfo=UTC)
    after = panel(reprobation_ends="after_days:14", reprobation_lifts_at=lifts)
    assert "14 days after it is applied, or when you reactivate" in after
    assert "It lifts on its own on Tue 14 Jul 2026, 18:00." in after
    renewal = panel(reprobation_ends="at_renewal", reprobation_lifts_at=lifts)
    assert (
        "It lifts on its own when the subscription renews, due Tue 14 Jul 2026, 18:00." in renewal
    )
    only_mentor = panel()
    assert "when you reactivate" in only_mentor and "lifts on its own" not in only_mentor

"""What if: the recorded marks replayed under the policy in force give what the live
rules gave, and under a proposed policy what it would have given; nothing else."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import MenteeReprobated, MenteeWarned, SubscriptionPolicy
from contracts.policy import AbsencesInDays
from services.attendance.preview import proposing, replay
from tests.unit.test_attendance_record import (
    POLICY,
    START,
    absent,
    kinds,
    reactivation,
    run,
    subscription,
)
from tests.unit.test_fair_marks import FACT_KINDS, IN_DAYS_D, IN_DAYS_N, fact_for
from tests.unit.test_policy_rules import weeks

EVER = (START - timedelta(days=1000), START + timedelta(days=1000))


def test_a_stricter_proposal_reprobates_who_the_policy_in_force_only_warned() -> None:
    record = subscription(weeks=6)
    lived, events = run(record, *weeks(record, "apapa"), policy=POLICY)
    assert not lived.is_reprobated  # never two in a row
    current = replay(lived, POLICY, *EVER)
    assert current.reprobation is None
    assert [w.booking_id for w in current.warnings] == [
        record.sessions[w].booking_id for w in (0, 2, 4)
    ]
    assert [w.booking_id for w in current.warnings] == [
        e.booking_id for e in events if isinstance(e, MenteeWarned)
    ]

    stricter = proposing(POLICY, SubscriptionPolicy(reprobate_after_absences_in_days="3:30"))
    proposed = replay(lived, stricter, *EVER)
    assert proposed.reprobation is not None
    assert proposed.reprobation.rule == "absences_in_days"
    assert proposed.reprobation.detail == "3 absences within 30 days"
    assert [b for b, _ in proposed.reprobation.missed] == [
        record.sessions[w].booking_id for w in (0, 2, 4)
    ]
    # Reprobated at week 4's absence: week 5 would have been cancelled.
    assert proposed.reprobation.cancelled_sessions == 1
    # Nothing of the record changed: the replay is of a copy.
    assert lived.warned_streaks and not lived.is_reprobated


def test_a_milder_proposal_spares_who_was_reprobated_and_the_range_limits_the_replay() -> None:
    record = subscription(weeks=5)
    lived, _ = run(record, *weeks(record, "paa"), policy=POLICY)
    assert lived.is_reprobated
    current = replay(lived, POLICY, *EVER)
    assert current.reprobation is not None and current.reprobation.cancelled_sessions == 2
    milder = proposing(POLICY, SubscriptionPolicy(reprobate_after_absences=3))
    assert replay(lived, milder, *EVER).reprobation is None
    # Only weeks 2 and later: one absence, a warning, no reprobation.
    later = replay(lived, POLICY, record.sessions[2].starts_at, EVER[1])
    assert later.reprobation is None and len(later.warnings) == 1


def test_the_subscriptions_own_policy_still_wins_over_a_proposal() -> None:
    record = replace(subscription(weeks=4), policy=SubscriptionPolicy(reprobate_after_absences=2))
    lived, _ = run(record, *weeks(record, "aa"), policy=POLICY)
    milder = proposing(POLICY, SubscriptionPolicy(reprobate_after_absences=5))
    assert replay(lived, milder, *EVER).reprobation is not None


def test_a_reactivation_lived_is_not_replayed() -> None:
    record = subscription(weeks=4)
    reprobated, _ = run(record, *weeks(record, "aa"), policy=POLICY)
    lived, events = run(
        reprobated,
        reactivation(record.sessions[1].ends_at + timedelta(days=1)),
        absent(reprobated, 2),
        policy=POLICY,
    )
    assert not lived.is_reprobated and "mentee.warned" in kinds(events)  # warned again
    # The replay starts with nothing decided and reactivates nobody: reprobated at the
    # second absence, the third calls for nothing more.
    outcome = replay(lived, POLICY, *EVER)
    assert outcome.reprobation is not None
    assert [b for b, _ in outcome.reprobation.missed] == [
        record.sessions[w].booking_id for w in (0, 1)
    ]
    assert [w.booking_id for w in outcome.warnings] == [record.sessions[0].booking_id]


@settings(max_examples=300, deadline=None)
@given(
    kinds_=st.lists(st.sampled_from(FACT_KINDS), min_size=1, max_size=7),
    thresholds=st.sampled_from([(1, 2), (1, 3), (2, 2), (2, 3), (9, 9)]),
    in_days=st.tuples(*[st.none() | st.builds(AbsencesInDays, IN_DAYS_N, IN_DAYS_D)] * 2),
    rate=st.none() | st.tuples(st.sampled_from([50.0, 60.0, 75.0]), st.integers(2, 4)),
    data=st.data(),
)
def test_previewing_the_policy_in_force_gives_what_the_live_rules_gave(
    kinds_: list[str],
    thresholds: tuple[int, int],
    in_days: tuple[AbsencesInDays | None, AbsencesInDays | None],
    rate: tuple[float, int] | None,
    data: st.DataObject,
) -> None:
    record = subscription(weeks=len(kinds_))
    policy = replace(
        POLICY,
        warn_after=thresholds[0],
        reprobate_after=thresholds[1],
        warn_after_in_days=in_days[0],
        reprobate_after_in_days=in_days[1],
        warn_below_rate=rate[0] if rate else None,
        rate_sessions=rate[1] if rate else 10,
    )
    facts = [fact_for(record, week, kind) for week, kind in enumerate(kinds_)]
    lived, events = run(record, *data.draw(st.permutations(facts)), policy=policy)

    outcome = replay(lived, policy, *EVER)

    warned = sorted(
        (e.missed_starts_at, e.booking_id, e.rule, e.rule_detail)
        for e in events
        if isinstance(e, MenteeWarned)
    )
    assert sorted((w.starts_at, w.booking_id, w.rule, w.detail) for w in outcome.warnings) == (
        warned
    )
    reprobations = [e for e in events if isinstance(e, MenteeReprobated)]
    assert len(reprobations) <= 1
    if not reprobations:
        assert outcome.reprobation is None
    else:
        [live] = reprobations
        assert outcome.reprobation is not None
        assert outcome.reprobation.reprobated_at == live.reprobated_at
        assert [b for b, _ in outcome.reprobation.missed] == live.missed_booking_ids
        assert (outcome.reprobation.rule, outcome.reprobation.detail) == (
            live.rule,
            live.rule_detail,
        )

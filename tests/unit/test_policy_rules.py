"""The rules beside consecutive absences: N absences within D days (to warn or to
reprobate) and an attendance rate below a percentage (to warn). Each is off unless set;
each is met in session order, acted on once, and says which rule it was."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from pydantic import ValidationError

from contracts import MenteeReprobated, MenteeWarned, SubscriptionPolicy
from contracts.policy import AbsencesInDays
from services.attendance.domain import Counted, Policy, Record, counted_absences
from services.kit.settings import Settings
from tests.unit.test_attendance_record import (
    POLICY,
    Fact,
    absent,
    joined,
    kinds,
    run,
    subscription,
    tick_after,
)

# Consecutive thresholds out of the way, so that only the rule under test acts.
QUIET = replace(POLICY, warn_after=50, reprobate_after=50)


def weeks(record: Record, pattern: str) -> list[Fact]:
    """Facts for a session a week: `a` absent, `p` present (joined), `.` left unmarked."""
    facts: list[Fact] = []
    for week, kind in enumerate(pattern):
        if kind == "a":
            facts.append(absent(record, week))
        elif kind == "p":
            facts.append(joined(record, week))
    return facts


def test_n_absences_within_d_days_are_parsed_and_refused_when_malformed() -> None:
    assert AbsencesInDays.parse(" 3:30 ") == AbsencesInDays(3, 30)
    assert str(AbsencesInDays(3, 30)) == "3:30"
    assert AbsencesInDays(1, 7).words() == "1 absence within 7 days"
    assert AbsencesInDays(1, 1).words() == "1 absence within 1 day"
    assert AbsencesInDays.parse_optional("") is None
    for bad in ("3", "0:30", "3:0", "3:400", "a:b", "3:30:1"):
        with pytest.raises(ValueError, match="N:D"):
            AbsencesInDays.parse(bad)


def test_every_new_rule_is_off_by_default() -> None:
    settings = Settings()
    assert settings.warn_after_absences_in_days == ""
    assert settings.reprobate_after_absences_in_days == ""
    assert settings.warn_below_attendance_rate is None
    policy = Policy()
    assert (policy.warn_after_in_days, policy.reprobate_after_in_days) == (None, None)
    assert policy.warn_below_rate is None


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("REPROBATE_AFTER_ABSENCES_IN_DAYS", "3"),
        ("WARN_AFTER_ABSENCES_IN_DAYS", "0:7"),
        ("WARN_BELOW_ATTENDANCE_RATE", "0"),
        ("WARN_BELOW_ATTENDANCE_RATE", "101"),
        ("ATTENDANCE_RATE_SESSIONS", "0"),
    ],
)
def test_a_malformed_setting_stops_the_service_with_its_name(
    name: str, text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, text)
    with pytest.raises(ValidationError, match=name.lower()):
        Settings()


def test_absences_within_the_window_reprobate_though_never_two_in_a_row() -> None:
    policy = replace(QUIET, reprobate_after_in_days=AbsencesInDays(3, 30))
    record = subscription(weeks=6)
    # Weeks 0, 2 and 4: 28 days from the first to the third.
    after, events = run(record, *weeks(record, "apapa"), policy=policy)
    assert kinds(events).count("mentee.reprobated") == 1 and after.is_reprobated
    [reprobation] = [e for e in events if isinstance(e, MenteeReprobated)]
    assert reprobation.rule == "absences_in_days"
    assert reprobation.rule_detail == "3 absences within 30 days"
    assert reprobation.missed_booking_ids == [record.sessions[w].booking_id for w in (0, 2, 4)]
    assert after.consecutive_absences == 1  # the streak rule alone would never act


def test_an_absence_exactly_d_days_before_still_counts_and_one_day_more_does_not() -> None:
    record = subscription(weeks=3)
    # Absences at weeks 0 and 2: exactly 14 days apart.
    inside = replace(QUIET, reprobate_after_in_days=AbsencesInDays(2, 14))
    after, _ = run(record, *weeks(record, "apa"), policy=inside)
    assert after.is_reprobated
    outside = replace(QUIET, reprobate_after_in_days=AbsencesInDays(2, 13))
    after, events = run(record, *weeks(record, "apa"), policy=outside)
    assert not after.is_reprobated and "mentee.reprobated" not in kinds(events)


def test_an_absence_that_leaves_the_window_stops_counting_without_a_word() -> None:
    policy = replace(QUIET, warn_after_in_days=AbsencesInDays(2, 14))
    record = subscription(weeks=8)
    # Weeks 0 and 1 warn (2 within 14 days); week 5 alone again: the earlier two left
    # the window silently; week 6 makes two again: a new warning.
    after, events = run(record, *weeks(record, "aappapa"), policy=policy)
    warnings = [e for e in events if isinstance(e, MenteeWarned)]
    assert [w.booking_id for w in warnings] == [record.sessions[w].booking_id for w in (1, 6)]
    assert {w.rule for w in warnings} == {"absences_in_days"}
    assert warnings[0].rule_detail == "2 absences within 14 days"
    assert [w.consecutive_absences for w in warnings] == [2, 1]
    assert not after.is_reprobated


def test_a_third_absence_inside_the_window_does_not_warn_again() -> None:
    policy = replace(QUIET, warn_after_in_days=AbsencesInDays(2, 30))
    record = subscription(weeks=4)
    _, events = run(record, *weeks(record, "aaa"), policy=policy)
    assert kinds(events).count("mentee.warned") == 1


def test_an_attendance_rate_below_the_threshold_warns_once_when_it_falls() -> None:
    policy = replace(QUIET, warn_below_rate=75.0, rate_sessions=4)
    record = subscription(weeks=8)
    # Over the last 4: pppa is 75% (at the threshold: no warning); ppaa 50% warns;
    # paap, aapp 50% again (below all along: nothing); appp 75%; pppp 100%.
    after, events = run(record, *weeks(record, "pppaappp"), policy=policy)
    [warning] = [e for e in events if isinstance(e, MenteeWarned)]
    assert warning.rule == "attendance_rate"
    assert warning.booking_id == record.sessions[4].booking_id
    assert warning.rule_detail == "attended 2 of the last 4 sessions (50%, below 75%)"
    assert warning.consecutive_absences == 2
    assert not after.is_reprobated


def test_at_exactly_the_threshold_the_rate_does_not_warn() -> None:
    policy = replace(QUIET, warn_below_rate=75.0, rate_sessions=4)
    record = subscription(weeks=4)
    _, events = run(record, *weeks(record, "papp"), policy=policy)
    assert "mentee.warned" not in kinds(events)


def test_the_rate_is_judged_once_enough_sessions_are_settled() -> None:
    policy = replace(QUIET, warn_below_rate=50.0, rate_sessions=3)
    record = subscription(weeks=4)
    _, events = run(record, *weeks(record, "aa"), policy=policy)
    assert "mentee.warned" not in kinds(events)
    _, events = run(record, *weeks(record, "aap"), policy=policy)
    assert kinds(events).count("mentee.warned") == 1


def test_one_warning_per_absence_whichever_rules_it_meets() -> None:
    both = replace(POLICY, warn_after=1, reprobate_after=50)
    policy = replace(both, warn_after_in_days=AbsencesInDays(1, 7))
    record = subscription(weeks=2)
    _, events = run(record, *weeks(record, "a"), policy=policy)
    [warning] = [e for e in events if isinstance(e, MenteeWarned)]
    assert warning.rule == "consecutive" and warning.rule_detail == "1 absence in a row"


def test_the_first_rule_met_in_session_order_reprobates() -> None:
    policy = replace(POLICY, reprobate_after_in_days=AbsencesInDays(3, 60))
    record = subscription(weeks=6)
    # Consecutive (2 in a row) is met at week 3, before the third absence within 60 days.
    after, events = run(record, *weeks(record, "apaa"), policy=policy)
    [reprobation] = [e for e in events if isinstance(e, MenteeReprobated)]
    assert reprobation.rule == "consecutive"
    assert reprobation.missed_booking_ids == [record.sessions[w].booking_id for w in (2, 3)]
    assert after.is_reprobated


def test_the_subscriptions_own_rules_win_and_are_checked() -> None:
    own = SubscriptionPolicy(
        warn_after_absences_in_days="2:14",
        reprobate_after_absences_in_days=" 4:60 ",
        warn_below_attendance_rate=80,
        attendance_rate_sessions=5,
    )
    assert own.reprobate_after_absences_in_days == "4:60"
    policy = replace(POLICY, warn_after_in_days=AbsencesInDays(3, 30)).under(own)
    assert policy.warn_after_in_days == AbsencesInDays(2, 14)
    assert policy.reprobate_after_in_days == AbsencesInDays(4, 60)
    assert (policy.warn_below_rate, policy.rate_sessions) == (80, 5)
    inherited = replace(POLICY, warn_after_in_days=AbsencesInDays(3, 30)).under(
        SubscriptionPolicy(reprobate_after_absences=3)
    )
    assert inherited.warn_after_in_days == AbsencesInDays(3, 30)
    for bad in (
        {"warn_after_absences_in_days": "2"},
        {"warn_below_attendance_rate": 0},
        {"attendance_rate_sessions": 0},
    ):
        with pytest.raises(ValidationError):
            SubscriptionPolicy.model_validate(bad)


def test_which_absences_count_now_and_until_when() -> None:
    record = subscription(weeks=6)
    lived, _ = run(record, *weeks(record, "aapa"), policy=QUIET)
    ids = [s.booking_id for s in record.sessions]
    # Only absences in a row: the run the history ends in (week 3), until they attend.
    assert counted_absences(lived.sessions, None, QUIET) == {
        ids[3]: Counted(in_a_row=True, until=None)
    }
    # With a window rule every absence counts until D days after its session (the widest
    # rule's D), the current run's also in a row.
    window = replace(
        QUIET,
        warn_after_in_days=AbsencesInDays(2, 14),
        reprobate_after_in_days=AbsencesInDays(3, 30),
    )
    counted = counted_absences(lived.sessions, None, window)
    assert counted == {
        ids[w]: Counted(w == 3, record.sessions[w].starts_at + timedelta(days=30))
        for w in (0, 1, 3)
    }
    # A reactivation wipes the slate.
    assert counted_absences(lived.sessions, record.sessions[3].ends_at, window) == {}


def test_a_warning_lists_the_absences_its_rule_counted() -> None:
    policy = replace(QUIET, warn_after_in_days=AbsencesInDays(2, 14))
    record = subscription(weeks=3)
    _, events = run(record, *weeks(record, "apa"), policy=policy)
    [warning] = [e for e in events if isinstance(e, MenteeWarned)]
    assert warning.counted_starts_at == [record.sessions[w].starts_at for w in (0, 2)]
    # Each counts towards the rule that warned for its D days.
    assert warning.counted_for_days == 14


def test_a_mentors_edit_is_never_retroactive_and_judges_what_is_met_after_it() -> None:
    stricter = SubscriptionPolicy(reprobate_after_absences_in_days="3:30")
    record = subscription(weeks=8)
    lived, _ = run(record, *weeks(record, "apapa"), policy=QUIET)
    assert not lived.is_reprobated  # weeks 0, 2 and 4: 3 within 28 days, no such rule yet
    edited = replace(
        lived, mentor_policies=((tick_after(record, 4) + timedelta(days=1), stricter),)
    )
    # A later fact recounts the history under the new policy: what was met before the
    # edit stays judged by the policy then in force.
    attended, events = run(edited, joined(edited, 5), policy=QUIET)
    assert not attended.is_reprobated and "mentee.reprobated" not in kinds(events)
    # An absence after the edit is judged by it, with the absences before it counted.
    after, events = run(attended, absent(attended, 6), policy=QUIET)
    [reprobation] = [e for e in events if isinstance(e, MenteeReprobated)]
    assert reprobation.rule == "absences_in_days"
    assert reprobation.missed_booking_ids == [record.sessions[w].booking_id for w in (2, 4, 6)]
    assert after.is_reprobated


def test_a_milder_edit_does_not_undo_what_was_met_before_it() -> None:
    record = subscription(weeks=4)
    milder = SubscriptionPolicy(warn_after_absences=3)
    edited = replace(
        record, mentor_policies=((tick_after(record, 0) + timedelta(hours=1), milder),)
    )
    # Week 0's absence was marked before the edit: warned under the settings (1).
    _, events = run(edited, *weeks(edited, "ap"), policy=POLICY)
    assert kinds(events).count("mentee.warned") == 1
    # One after it is judged by the edit: a first absence no longer warns.
    _, events = run(edited, *weeks(edited, "pa"), policy=POLICY)
    assert "mentee.warned" not in kinds(events)


def test_a_warning_by_absences_in_a_row_says_no_window() -> None:
    policy = replace(QUIET, warn_after=2, reprobate_after_in_days=AbsencesInDays(3, 30))
    record = subscription(weeks=3)
    _, events = run(record, *weeks(record, "aa"), policy=policy)
    [warning] = [e for e in events if isinstance(e, MenteeWarned)]
    assert (warning.rule, warning.counted_for_days) == ("consecutive", None)

"""What the mentee's page offers for a session, and the join's refusal, at a given
moment; the mentee's standing in words (no I/O, no clock)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.rpc import BookingAttendance, SubscriberDetail
from services.gateway.sessions import Rules, join_refusal, mark_words, offer, standing

ZONE = "America/Sao_Paulo"  # UTC-3 all year
STARTS = datetime(2026, 12, 8, 21, 0, tzinfo=UTC)  # Tue 18:00 in Sao Paulo
ENDS = STARTS + timedelta(hours=1)
RULES = Rules(join_opens_before=timedelta(minutes=15), cancel_notice=timedelta(hours=24))


def session(**changes: Any) -> BookingAttendance:
    fields: dict[str, Any] = {
        "booking_id": uuid.uuid4(),
        "starts_at": STARTS,
        "ends_at": ENDS,
        "cancelled": False,
    }
    return BookingAttendance(**{**fields, **changes})


def test_a_join_before_the_window_says_when_it_opens_in_the_slots_zone() -> None:
    week_early = STARTS - timedelta(days=7)
    assert (
        join_refusal(STARTS, ENDS, ZONE, week_early, RULES)
        == "this session opens for joining at Tue 08 Dec 2026, 17:45 (Sao Paulo)"
    )
    opens = STARTS - timedelta(minutes=15)
    assert join_refusal(STARTS, ENDS, ZONE, opens - timedelta(seconds=1), RULES) is not None
    assert join_refusal(STARTS, ENDS, ZONE, opens, RULES) is None


def test_a_join_at_or_after_the_end_says_the_session_is_over() -> None:
    assert join_refusal(STARTS, ENDS, ZONE, ENDS - timedelta(seconds=1), RULES) is None
    assert (
        join_refusal(STARTS, ENDS, ZONE, ENDS, RULES)
        == "this session ended at Tue 08 Dec 2026, 19:00 (Sao Paulo)"
    )


def test_join_is_offered_only_inside_the_window_and_only_while_unmarked() -> None:
    before = offer(session(), STARTS - timedelta(hours=1), RULES)
    assert not before.join and before.join_opens_at == STARTS - timedelta(minutes=15)
    during = offer(session(), STARTS + timedelta(minutes=5), RULES)
    assert during.join and during.joins_until == ENDS and during.join_opens_at is None
    joined = session(status="present", marked_by="system", marked_at=STARTS)
    assert not offer(joined, STARTS + timedelta(minutes=5), RULES).join
    assert not offer(session(cancelled=True), STARTS, RULES).join
    assert not offer(session(), ENDS, RULES).join


def test_cancel_is_offered_before_the_start_and_says_which_side_of_the_notice() -> None:
    in_time = offer(session(), STARTS - timedelta(hours=25), RULES)
    assert in_time.cancel and not in_time.cancel_counts
    assert in_time.cancel_in_time_until == STARTS - timedelta(hours=24)
    late = offer(session(), STARTS - timedelta(hours=2), RULES)
    assert late.cancel and late.cancel_counts
    assert not offer(session(), STARTS, RULES).cancel
    assert not offer(session(cancelled=True), STARTS - timedelta(days=3), RULES).cancel


def test_appeal_is_offered_until_the_mark_can_no_longer_be_appealed() -> None:
    until = ENDS + timedelta(days=7)
    missed = session(status="absent", marked_by="system", marked_at=ENDS, appealable_until=until)
    assert offer(missed, until, RULES).appeal_until == until
    assert offer(missed, until + timedelta(seconds=1), RULES).appeal_until is None
    present = session(status="present", marked_by="system", marked_at=STARTS)
    assert offer(present, ENDS, RULES).appeal_until is None


def test_marks_read_as_the_mentee_would_say_them() -> None:
    assert mark_words(session(), STARTS - timedelta(days=1)) == "upcoming"
    assert mark_words(session(), STARTS) == "now"
    assert mark_words(session(), ENDS) == "not marked yet"
    assert mark_words(session(cancelled=True), STARTS) == "cancelled"
    no_show = session(status="mentor_no_show", marked_by="system", marked_at=ENDS)
    assert mark_words(no_show, ENDS) == "your mentor did not come (not held against you)"


def subscriber(**changes: Any) -> SubscriberDetail:
    fields: dict[str, Any] = {
        "subscription_id": uuid.uuid4(),
        "mentee_id": uuid.uuid4(),
        "mentee_name": "Mia",
        "mentee_email": "mia@example.com",
        "absences": 0,
        "consecutive_absences": 0,
        "is_reprobated": False,
        "status": "active",
        "upcoming_bookings": 3,
        "timezone": ZONE,
    }
    return SubscriberDetail(**{**fields, **changes})


def test_a_warned_mentee_reads_how_many_more_absences_cancel_the_cycle() -> None:
    warned = standing(subscriber(status="warned", absences=1, consecutive_absences=1), STARTS)
    assert warned.kind == "warned"
    assert "One more absence in a row cancels the rest of this cycle" in " ".join(warned.details)
    three = subscriber(
        status="warned", absences=1, consecutive_absences=1, reprobate_after_absences=3
    )
    assert "2 more absences in a row" in " ".join(standing(three, STARTS).details)


def test_a_reprobated_mentee_reads_what_lifts_it() -> None:
    by_mentor = standing(subscriber(status="reprobated", is_reprobated=True), STARTS)
    assert by_mentor.kind == "reprobated"
    assert "Only your mentor can lift it" in " ".join(by_mentor.details)
    renewal = subscriber(
        status="reprobated",
        is_reprobated=True,
        reprobation_ends="at_renewal",
        reprobation_lifts_at=STARTS,
    )
    assert "next renewal, due Tue 08 Dec 2026, 18:00 (Sao Paulo)" in " ".join(
        standing(renewal, STARTS).details
    )
    days = subscriber(
        status="reprobated",
        is_reprobated=True,
        reprobation_ends="after_days:14",
        reprobation_lifts_at=STARTS,
    )
    assert "It lifts on Tue 08 Dec 2026, 18:00 (Sao Paulo)" in " ".join(
        standing(days, STARTS).details
    )


def test_a_pending_reprobation_says_when_and_open_appeals_are_counted() -> None:
    pending = subscriber(
        status="warned",
        consecutive_absences=2,
        reprobation_pending_until=STARTS,
        open_appeals=1,
    )
    words = standing(pending, STARTS)
    assert words.kind == "pending"
    assert words.headline == (
        "Your remaining sessions will be cancelled on Tue 08 Dec 2026, 18:00 (Sao Paulo)"
    )
    assert "One appeal waits for your mentor's decision." in words.details
    assert standing(subscriber(), STARTS).headline == "You are in good standing"

"""What the mentee's page offers for a session, and the join's refusal, at a given
moment; the mentee's standing in words (no I/O, no clock)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.rpc import BookingAttendance, MenteeStandingReply, SubscriberDetail
from services.gateway.dashboard import templates
from services.gateway.mentee_page import page_context
from services.gateway.sessions import Rules, join_refusal, mark_words, offer, standing
from services.gateway.times import when

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
    two = subscriber(status="warned", absences=2, consecutive_absences=2)
    assert standing(two, STARTS).details[0].startswith("2 absences in a row count against you.")


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


WINDOWS = {"warn_after_absences_in_days": "2:14", "reprobate_after_absences_in_days": "3:30"}


def missed(starts_at: datetime, **counts: Any) -> BookingAttendance:
    return session(
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=1),
        status="absent",
        marked_by="system",
        marked_at=starts_at + timedelta(hours=1),
        **counts,
    )


def counted_history() -> list[BookingAttendance]:
    """Weekly sessions up to STARTS: one missed 5 weeks before (its 30 days are over),
    one 3 weeks before, one attended, the last one missed (the run it ends in)."""
    weeks = [STARTS - timedelta(weeks=w) for w in (5, 3, 2, 1)]
    return [
        missed(weeks[0], counts_until=weeks[0] + timedelta(days=30)),
        missed(weeks[1], counts_until=weeks[1] + timedelta(days=30)),
        session(starts_at=weeks[2], ends_at=weeks[2] + timedelta(hours=1), status="present"),
        missed(weeks[3], counts_in_a_row=True, counts_until=weeks[3] + timedelta(days=30)),
    ]


def test_the_standing_lists_the_absences_that_count_now_and_until_when() -> None:
    warned = subscriber(
        status="warned",
        absences=3,
        consecutive_absences=1,
        bookings=counted_history(),
        **WINDOWS,
    )
    words = standing(warned, STARTS)
    # The widest window (the reprobation's 30 days) says how long each counts; the
    # absence of five weeks ago no longer does.
    assert [f"{when(c.starts_at, ZONE, named=False)}: {c.words}" for c in words.counted] == [
        "Tue 17 Nov 2026, 18:00: counts towards 3 absences within 30 days until "
        "Thu 17 Dec 2026, 18:00",
        "Tue 01 Dec 2026, 18:00: counts in a row until you attend a session, and towards "
        "3 absences within 30 days until Thu 31 Dec 2026, 18:00",
    ]
    # Attending clears the warning, not the count within the window.
    assert words.details[0] == (
        "One absence in a row counts against you. One more absence in a row cancels the rest "
        "of this cycle, and so do 3 absences within 30 days; attending your next session "
        "clears the warning, but not the absences within 30 days."
    )
    # An absence counts up to the moment its window ends, not after.
    last_day = STARTS - timedelta(weeks=3) + timedelta(days=30)
    assert len(standing(warned, last_day).counted) == 2
    assert len(standing(warned, last_day + timedelta(seconds=1)).counted) == 1


def test_without_a_window_rule_only_the_run_in_a_row_counts_until_they_attend() -> None:
    streak = subscriber(
        status="warned",
        absences=1,
        consecutive_absences=1,
        bookings=[missed(STARTS - timedelta(weeks=1), counts_in_a_row=True)],
    )
    words = standing(streak, STARTS)
    assert [c.words for c in words.counted] == ["counts in a row until you attend a session"]
    assert words.details[0].endswith("attending your next session clears the warning.")
    attended = subscriber(bookings=[session(status="present")])
    assert standing(attended, STARTS).counted == ()


def test_a_window_rule_is_named_beside_the_run_in_a_row() -> None:
    active = standing(subscriber(absences=1, **WINDOWS), STARTS)
    assert active.details[0] == (
        "One absence this cycle. 2 absences in a row would cancel the rest of the cycle, and "
        "so would 3 absences within 30 days."
    )
    # One absence in a row cannot have reprobated under 2 in a row: the window did.
    by_window = subscriber(
        status="reprobated", is_reprobated=True, consecutive_absences=1, **WINDOWS
    )
    assert (
        standing(by_window, STARTS)
        .details[0]
        .startswith("After 3 absences within 30 days the rest of this cycle was cancelled")
    )
    pending = subscriber(consecutive_absences=1, reprobation_pending_until=STARTS, **WINDOWS)
    assert (
        standing(pending, STARTS)
        .details[0]
        .startswith("3 absences within 30 days reached the limit.")
    )
    in_a_row = subscriber(
        status="reprobated", is_reprobated=True, consecutive_absences=2, **WINDOWS
    )
    assert standing(in_a_row, STARTS).details[0].startswith("After 2 absences in a row")
    # Attendance says which rule it was: that, not a guess from the counts.
    said = in_a_row.model_copy(update={"reprobated_for": "3 absences within 30 days"})
    assert standing(said, STARTS).details[0].startswith("After 3 absences within 30 days")
    # A reprobated mentee is not told an absence counts until they attend.
    reprobated = in_a_row.model_copy(update={"bookings": counted_history()})
    assert standing(reprobated, STARTS).counted == ()


def mentee_panel(subscription: SubscriberDetail) -> str:
    reply = MenteeStandingReply(subscriptions=[subscription])
    html = templates.env.get_template("_mentee_panel.html").render(
        page_context(reply, STARTS, RULES)
    )
    return " ".join(html.split())


def test_the_panel_lists_the_counted_absences_and_marks_them_in_the_table() -> None:
    history = counted_history()
    html = mentee_panel(
        subscriber(status="warned", absences=3, consecutive_absences=1, bookings=history, **WINDOWS)
    )
    assert "Absences that count against you now:" in html
    assert (
        "<strong>Tue 01 Dec 2026, 18:00</strong>: counts in a row until you attend a session, "
        "and towards 3 absences within 30 days until Thu 31 Dec 2026, 18:00</li>"
    ) in html
    row = html.split(f'data-booking-id="{history[1].booking_id}"', 1)[1].split("</tr>", 1)[0]
    assert (
        '<small class="counts">Counts towards 3 absences within 30 days until '
        "Thu 17 Dec 2026, 18:00</small>"
    ) in row
    old = html.split(f'data-booking-id="{history[0].booking_id}"', 1)[1].split("</tr>", 1)[0]
    assert "Counts" not in old
    assert "Absences that count" not in mentee_panel(subscriber())

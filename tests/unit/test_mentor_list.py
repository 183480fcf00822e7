"""The mentor's list: who needs them first, what each status means, today's sessions,
and what an action did, in words."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from contracts.rpc import (
    BookingAttendance,
    NearSession,
    SubscriberChanged,
    SubscriberDetail,
    SubscriberSummary,
)
from services.gateway.mentor_list import MEANINGS, NEEDS, counts, need_of, needs_first, only, todays
from services.gateway.outcomes import what_happened

NOW = datetime(2026, 12, 8, 15, 0, tzinfo=UTC)


def summary(name: str, status: str = "active", **extra: object) -> SubscriberSummary:
    return SubscriberSummary.model_validate(
        {
            "subscription_id": uuid.uuid4(),
            "mentee_id": uuid.uuid4(),
            "mentee_name": name,
            "mentee_email": f"{name.lower()}@example.com",
            "absences": 0,
            "consecutive_absences": 0,
            "is_reprobated": status == "reprobated",
            "status": status,
            "upcoming_bookings": 1,
            **extra,
        }
    )


def test_who_needs_the_mentor_comes_first_then_names() -> None:
    listed = [
        summary("Ana"),
        summary("Bea", "warned"),
        summary("Cid", "reprobated"),
        summary("Dan", "warned", reprobation_pending_until=NOW),
        summary("Eva", open_appeals=1),
        summary("Fay", "ended"),
        summary("abe", "warned"),
    ]
    assert [s.mentee_name for s in needs_first(listed)] == [
        "Eva",
        "Dan",
        "Cid",
        "abe",
        "Bea",
        "Ana",
        "Fay",
    ]
    assert counts(listed) == {
        "appeal": 1,
        "pending": 1,
        "reprobated": 1,
        "warned": 2,
        "active": 1,
        "ended": 1,
    }
    assert [s.mentee_name for s in only(listed, "warned")] == ["Bea", "abe"]
    assert only(listed, None) == listed


def test_every_status_is_explained_in_a_line() -> None:
    assert set(MEANINGS) == set(NEEDS)
    assert all(word and meaning.endswith(".") for word, meaning in MEANINGS.values())
    assert need_of(summary("Ana", "reprobated", open_appeals=2)) == "appeal"


def test_today_is_the_readers_day_with_who_has_joined() -> None:
    ana, bea = summary("Ana"), summary("Bea")

    def near(s: SubscriberSummary, starts: datetime, status: str | None = None) -> NearSession:
        return NearSession.model_validate(
            {
                "subscription_id": s.subscription_id,
                "booking_id": uuid.uuid4(),
                "starts_at": starts,
                "ends_at": starts + timedelta(hours=1),
                "status": status,
            }
        )

    sessions = [
        near(ana, NOW - timedelta(hours=5), "present"),
        near(bea, NOW - timedelta(minutes=10)),
        near(ana, NOW + timedelta(hours=2)),
        near(bea, NOW + timedelta(hours=9)),  # 00:00 in UTC tomorrow; 21:00 in Sao Paulo
        near(ana, NOW - timedelta(hours=16)),  # yesterday in UTC; today in Tokyo
    ]
    in_utc = todays(sessions, [ana, bea], NOW, "UTC")
    assert [(t.mentee_name, t.state) for t in in_utc] == [
        ("Ana", "joined"),
        ("Bea", "now: not joined yet"),
        ("Ana", "upcoming"),
    ]
    in_sao_paulo = todays(sessions, [ana, bea], NOW, "America/Sao_Paulo")
    assert [t.state for t in in_sao_paulo] == [
        "joined",
        "now: not joined yet",
        "upcoming",
        "upcoming",
    ]
    assert len(todays(sessions, [bea], NOW, "UTC")) == 1  # only the listed subscribers'


def changed(published: list[str], before: str, after: str) -> SubscriberChanged:
    detail = SubscriberDetail.model_validate(
        {
            **summary("Emily", after).model_dump(),
            "bookings": [
                BookingAttendance(
                    booking_id=uuid.uuid4(),
                    starts_at=NOW,
                    ends_at=NOW + timedelta(hours=1),
                    cancelled=False,
                )
            ],
        }
    )
    return SubscriberChanged.model_validate(
        {"subscriber": detail, "status_before": before, "published": published}
    )


def test_a_mark_says_what_it_did_and_what_followed() -> None:
    reply = changed(["attendance.marked", "mentee.warned"], "active", "warned")
    said = what_happened("mark", reply, "Tue 08 Dec 2026, 15:00", "absent")
    assert said == (
        "Saved: Tue 08 Dec 2026, 15:00 is marked absent. Emily is warned: you and they are emailed."
    )
    lifted = what_happened(
        "mark", changed(["attendance.marked"], "warned", "active"), "x", "excused"
    )
    assert lifted.endswith("The warning is lifted: Emily is in good standing again.")
    missed = what_happened(
        "mark",
        changed(["attendance.marked", "mentor.missed"], "active", "active"),
        "x",
        "mentor_no_show",
    )
    assert "marked mentor no-show" in missed and "apology" in missed


def test_reactivation_and_repeats_are_said() -> None:
    reactivated = what_happened(
        "reactivate", changed(["mentee.reactivated"], "reprobated", "active")
    )
    assert reactivated.startswith("Emily is reactivated and emailed")
    assert what_happened("waive", changed([], "warned", "warned")).startswith("Nothing changed")
    reprobated = what_happened(
        "mark",
        changed(["attendance.marked", "mentee.reprobated"], "warned", "reprobated"),
        "x",
        "absent",
    )
    assert "Emily is reprobated" in reprobated


def test_sessions_at_the_same_time_today_go_by_name() -> None:
    zoe, ana = summary("Zoe"), summary("ana")
    sessions = [
        NearSession(
            subscription_id=s.subscription_id,
            booking_id=uuid.uuid4(),
            starts_at=NOW,
            ends_at=NOW + timedelta(hours=1),
        )
        for s in (zoe, ana)
    ]
    assert [t.mentee_name for t in todays(sessions, [zoe, ana], NOW, "UTC")] == ["ana", "Zoe"]

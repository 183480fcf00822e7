"""The make-ups counted as the mentor's list, their subscriber's page and the API say them:
withdrawn ones not counted, the first owed one's book-by day in the reader's zone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from contracts.rpc import Makeup
from services.gateway.makeups import MakeupCounts, counted, counted_by_subscription, counts_words

MISSED_AT = datetime(2026, 12, 1, 21, tzinfo=UTC)
ONE, TWO = uuid.uuid4(), uuid.uuid4()


def makeup(status: str, subscription: uuid.UUID = ONE, days_before: int = 0) -> Makeup:
    missed = MISSED_AT - timedelta(days=days_before)
    return Makeup(
        missed_booking_id=uuid.uuid4(),
        subscription_id=subscription,
        missed_starts_at=missed,
        missed_ends_at=missed + timedelta(hours=1),
        status=status,  # type: ignore[arg-type]
        owed_at=missed,
        changed_at=missed,
        book_by=missed + timedelta(days=14),
    )


def test_each_status_is_counted_but_withdrawn_and_the_first_book_by_is_the_earliest() -> None:
    found = [
        makeup("owed"),
        makeup("owed", days_before=2),
        makeup("booked"),
        makeup("used"),
        makeup("used"),
        makeup("expired"),
        makeup("withdrawn"),
    ]
    assert counted(found) == MakeupCounts(
        owed=2, booked=1, used=2, expired=1, first_book_by=MISSED_AT + timedelta(days=12)
    )


def test_nothing_counted_is_false_and_said_in_no_words() -> None:
    nothing = counted([makeup("withdrawn")])
    assert not nothing
    assert counts_words(nothing, "UTC") == ""
    assert counted([makeup("expired")])


def test_by_subscription_only_those_with_any_counted() -> None:
    by = counted_by_subscription([makeup("owed"), makeup("withdrawn", TWO)])
    assert set(by) == {ONE}
    assert by[ONE].owed == 1


def test_words_skip_zeros_and_call_used_ones_held() -> None:
    counts = MakeupCounts(owed=0, booked=1, used=2, expired=1)
    assert counts_words(counts) == "1 booked, 2 held, 1 expired"


def test_words_give_the_first_owed_ones_day_in_the_readers_zone() -> None:
    one = counted([makeup("owed"), makeup("booked")])
    # book_by: Tue 15 Dec 2026, 21:00 UTC, still Tue 15 Dec in Sao Paulo, Wed 16 Dec in Tokyo.
    assert counts_words(one, "America/Sao_Paulo") == "1 owed (book by Tue 15 Dec), 1 booked"
    assert counts_words(one, "Asia/Tokyo") == "1 owed (book by Wed 16 Dec), 1 booked"
    assert counts_words(one) == "1 owed, 1 booked"  # no zone: no day
    two = counted([makeup("owed"), makeup("owed", days_before=3)])
    assert counts_words(two, "UTC") == "2 owed (the first by Sat 12 Dec)"
    assert counts_words(two, owed="to book") == "2 to book"

"""The mentor's CSV export: the date range, and one row per booking in the slot's zone."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi import HTTPException

from contracts.rpc import ExportedSession
from services.gateway.export import COLUMNS, attendance_csv, days

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


def session(starts_at: datetime, **mark: object) -> ExportedSession:
    return ExportedSession(
        mentee_name='Maria, "the" Mentee',
        mentee_email="maria@example.com",
        timezone="America/Sao_Paulo",
        booking_id=uuid.uuid4(),
        starts_at=starts_at,
        cancelled=bool(mark.pop("cancelled", False)),
        **mark,  # type: ignore[arg-type]
    )


def test_one_row_per_booking_with_times_in_the_slots_zone() -> None:
    start = datetime(2026, 3, 2, 21, 0, tzinfo=UTC)
    marked = start + timedelta(hours=2)
    sessions = [
        session(start, status="excused", marked_by="mentor", marked_at=marked, reason="ill"),
        session(start + timedelta(weeks=1)),
        session(start + timedelta(weeks=2), cancelled=True),
        session(start + timedelta(weeks=3)),
    ]
    rows = list(csv.reader(io.StringIO(attendance_csv(sessions, NOW))))
    assert rows[0] == COLUMNS
    assert rows[1] == [
        'Maria, "the" Mentee',
        "maria@example.com",
        "2026-03-02T18:00:00-03:00",
        "America/Sao_Paulo",
        "excused",
        "mentor",
        "2026-03-02T20:00:00-03:00",
        "ill",
    ]
    assert [r[4] for r in rows[2:]] == ["not marked", "cancelled", "upcoming"]


def test_no_cell_of_peoples_words_is_a_formula_to_a_spreadsheet() -> None:
    hostile = session(
        NOW, status="excused", marked_by="mentor", marked_at=NOW, reason="=HYPERLINK(1)"
    ).model_copy(update={"mentee_name": "@SUM(A1)", "mentee_email": "+1@example.com"})
    [_, row] = list(csv.reader(io.StringIO(attendance_csv([hostile], NOW))))
    assert (row[0], row[1], row[7]) == ("'@SUM(A1)", "'+1@example.com", "'=HYPERLINK(1)")


def test_the_range_is_whole_utc_days_both_included() -> None:
    starts_from, starts_before = days(date(2026, 3, 1), date(2026, 3, 31))
    assert (starts_from, starts_before) == (
        datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 4, 1, tzinfo=UTC),
    )


def test_the_last_day_there_is_can_end_a_range() -> None:
    assert days(date.max, date.max)[1] == datetime.max.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("starts_on", "ends_on", "says"),
    [
        (date(2026, 3, 2), date(2026, 3, 1), '"to" is before "from"'),
        (date(2025, 1, 1), date(2026, 1, 2), "at most 366 days"),
    ],
)
def test_a_reversed_or_too_long_range_is_a_422(starts_on: date, ends_on: date, says: str) -> None:
    with pytest.raises(HTTPException) as refused:
        days(starts_on, ends_on)
    assert refused.value.status_code == 422 and says in str(refused.value.detail)

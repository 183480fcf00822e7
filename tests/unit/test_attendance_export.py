"""The mentor's CSV export: the date range, and one row per booking in the slot's zone."""

from __future__ import annotations

import csv
import io
import itertools
import shutil
import subprocess
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi import HTTPException

from contracts.rpc import ExportedSession
from services.gateway.export import COLUMNS, attendance_csv, days

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


def session(
    starts_at: datetime,
    *,
    name: str = 'Maria, "the" Mentee',
    zone: str = "America/Sao_Paulo",
    booking_id: uuid.UUID | None = None,
    **mark: object,
) -> ExportedSession:
    return ExportedSession(
        mentee_name=name,
        mentee_email="maria@example.com",
        timezone=zone,
        booking_id=booking_id or uuid.uuid4(),
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
        "2026-03-02 18:00",
        "America/Sao_Paulo",
        "excused",
        "mentor",
        "2026-03-02 20:00",
        "ill",
    ]
    assert [r[4] for r in rows[2:]] == ["not marked", "cancelled", "upcoming"]
    assert [r[6] for r in rows[2:]] == ["", "", ""]  # not marked: no time


def starts_and_marks(sessions: list[ExportedSession]) -> list[tuple[str, str, str]]:
    [_, *rows] = list(csv.reader(io.StringIO(attendance_csv(sessions, NOW))))
    return [(r[2], r[3], r[6]) for r in rows]


@pytest.mark.parametrize(
    ("zone", "marked_at", "shown"),
    [
        # A database time: microseconds, in another offset than the slot's.
        ("America/Sao_Paulo", "2026-12-06T01:23:09.547693+00:00", "2026-12-05 22:23"),
        # Seconds are cut, not rounded: 22:23:59 is still 22:23 on the mentor's clock.
        ("America/Sao_Paulo", "2026-12-06T01:23:59.999999+00:00", "2026-12-05 22:23"),
        ("Asia/Kolkata", "2026-12-05T22:23:09.5+00:00", "2026-12-06 03:53"),
        # New York in summer time (-04:00), then in winter time (-05:00).
        ("America/New_York", "2026-07-01T12:00:00+00:00", "2026-07-01 08:00"),
        ("America/New_York", "2026-12-01T12:00:00+00:00", "2026-12-01 07:00"),
        ("UTC", "0999-01-02T03:04:05+00:00", "0999-01-02 03:04"),  # four digits of year
    ],
)
def test_times_are_the_slots_wall_clock_to_the_minute_as_spreadsheets_read_dates(
    zone: str, marked_at: str, shown: str
) -> None:
    moment = datetime.fromisoformat(marked_at)
    marked = session(moment, zone=zone, status="present", marked_by="system", marked_at=moment)
    assert starts_and_marks([marked]) == [(shown, zone, shown)]
    # What a spreadsheet reads back is the same minute in the slot's zone.
    assert datetime.strptime(shown, "%Y-%m-%d %H:%M").replace(
        tzinfo=ZoneInfo(zone)
    ) == moment.replace(second=0, microsecond=0)


SOFFICE = shutil.which("soffice")
OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (libreoffice-calc-nogui) is not installed")
@pytest.mark.parametrize("language", ["1033", "1046"])  # en-US (month first), pt-BR
def test_libreoffice_opens_the_times_as_dates_in_any_language(
    tmp_path: Path, language: str
) -> None:
    moment = datetime.fromisoformat("2026-12-06T01:23:09.547693+00:00")
    marked = session(moment, status="present", marked_by="system", marked_at=moment)
    (tmp_path / "export.csv").write_text(attendance_csv([marked], NOW), encoding="utf-8")
    assert SOFFICE is not None
    subprocess.run(
        [
            SOFFICE,
            f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}",
            "--headless",
            # comma, double quote, UTF-8, from line 1, standard columns, this language
            f"--infilter=CSV:44,34,76,1,,{language}",
            "--convert-to",
            "fods",
            "--outdir",
            str(tmp_path),
            str(tmp_path / "export.csv"),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    sheet = ET.parse(tmp_path / "export.fods")
    [_, row] = sheet.iter(f"{{{TABLE}}}table-row")
    cells = list(row.iter(f"{{{TABLE}}}table-cell"))
    for column in (2, 6):  # session_starts_at, marked_at
        assert cells[column].get(f"{{{OFFICE}}}value-type") == "date"
        assert cells[column].get(f"{{{OFFICE}}}date-value") == "2026-12-05T22:23:00"


def test_rows_are_in_the_order_of_their_local_starts_whatever_the_order_asked() -> None:
    # In UTC order: Tokyo's 19:00 (10:00 UTC), then Sao Paulo's 18:00 (21:00 UTC),
    # then Lisbon's 22:00 (22:00 UTC), then Tokyo's 09:00 the next day (00:00 UTC).
    day = datetime(2026, 12, 5, tzinfo=UTC)
    sessions = [
        session(day.replace(hour=10), zone="Asia/Tokyo"),
        session(day.replace(hour=21), zone="America/Sao_Paulo"),
        session(day.replace(hour=22), zone="Europe/Lisbon"),
        session(day + timedelta(days=1), zone="Asia/Tokyo"),
    ]
    expected = [
        ("2026-12-05 18:00", "America/Sao_Paulo", ""),
        ("2026-12-05 19:00", "Asia/Tokyo", ""),
        ("2026-12-05 22:00", "Europe/Lisbon", ""),
        ("2026-12-06 09:00", "Asia/Tokyo", ""),
    ]
    for order in itertools.permutations(sessions):
        assert starts_and_marks(list(order)) == expected


def test_equal_local_starts_go_by_mentee_then_booking() -> None:
    # 18:00 in Sao Paulo and 18:00 in Lisbon are three hours apart, and 18:00:30 is
    # after 18:00: on the sheet all three read 18:00, so the mentee and booking decide.
    sao_paulo = datetime(2026, 12, 5, 18, 0, tzinfo=ZoneInfo("America/Sao_Paulo"))
    lisbon = datetime(2026, 12, 5, 18, 0, tzinfo=ZoneInfo("Europe/Lisbon"))
    sessions = [
        session(sao_paulo, name="Bruno", booking_id=uuid.UUID(int=0)),
        session(sao_paulo + timedelta(seconds=30), name="Ana", booking_id=uuid.UUID(int=1)),
        session(lisbon, name="Ana", zone="Europe/Lisbon", booking_id=uuid.UUID(int=2)),
        session(sao_paulo, name="Ana", booking_id=uuid.UUID(int=3)),
    ]
    for order in itertools.permutations(sessions):
        [_, *rows] = list(csv.reader(io.StringIO(attendance_csv(list(order), NOW))))
        assert [(r[0], r[2], r[3]) for r in rows] == [
            ("Ana", "2026-12-05 18:00", "America/Sao_Paulo"),  # booking 1, at 18:00:30
            ("Ana", "2026-12-05 18:00", "Europe/Lisbon"),  # booking 2
            ("Ana", "2026-12-05 18:00", "America/Sao_Paulo"),  # booking 3
            ("Bruno", "2026-12-05 18:00", "America/Sao_Paulo"),
        ]


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


def test_a_zone_this_machine_does_not_know_is_read_as_utc_rather_than_failing() -> None:
    # The slot's zone was valid where it was checked; tzdata here may lack it.
    start = datetime(2026, 3, 2, 21, 0, tzinfo=UTC)
    rows = list(csv.reader(io.StringIO(attendance_csv([session(start, zone="Mars/Olympus")], NOW))))
    assert rows[1][2:4] == ["2026-03-02 21:00", "Mars/Olympus"]

"""The dashboard shows times in the reader's zone, the mentee's local time beside them."""

from __future__ import annotations

from datetime import UTC, date, datetime

from services.gateway.times import Reader, day, for_mentee, place, reader, when


def test_a_lisbon_session_reads_18_00_in_winter_and_in_summer() -> None:
    winter = datetime(2026, 1, 13, 18, 0, tzinfo=UTC)  # WET = UTC
    summer = datetime(2026, 7, 14, 17, 0, tzinfo=UTC)  # WEST = UTC+1
    assert when(winter, "Europe/Lisbon") == "Tue 13 Jan 2026, 18:00 (Lisbon)"
    assert when(summer, "Europe/Lisbon") == "Tue 14 Jul 2026, 18:00 (Lisbon)"


def test_the_zone_is_named_by_its_place() -> None:
    moment = datetime(2026, 11, 24, 10, 4, tzinfo=UTC)
    assert when(moment, "America/Sao_Paulo") == "Tue 24 Nov 2026, 07:04 (Sao Paulo)"
    assert when(moment) == "Tue 24 Nov 2026, 10:04 (UTC)"


def test_an_unknown_zone_falls_back_to_utc_and_nothing_is_shown_for_no_moment() -> None:
    moment = datetime(2026, 11, 24, 10, 4, tzinfo=UTC)
    assert when(moment, "Mars/Olympus_Mons") == "Tue 24 Nov 2026, 10:04 (UTC)"
    assert when(None, "Europe/Lisbon") == "—"


def test_a_page_that_names_the_zone_once_shows_bare_times() -> None:
    moment = datetime(2026, 11, 24, 10, 4, tzinfo=UTC)
    assert when(moment, "America/New_York", named=False) == "Tue 24 Nov 2026, 05:04"
    assert place("America/New_York") == "New York"
    assert place("Mars/Olympus_Mons") == "UTC"


def test_a_day_reads_as_the_days_of_the_pages_times() -> None:
    assert day(date(2026, 12, 6)) == "Sun 06 Dec 2026"
    assert when(datetime(2026, 12, 6, 9, 0, tzinfo=UTC)).startswith(day(date(2026, 12, 6)))


def test_the_reader_reads_in_the_mentors_zone_else_the_browsers_else_utc() -> None:
    assert reader("America/Sao_Paulo", "Asia/Tokyo") == Reader("America/Sao_Paulo", "mentor")
    assert reader(None, "Asia/Tokyo") == Reader("Asia/Tokyo", "browser")
    assert reader(None, None) == Reader("UTC", "default")
    # A cookie is the browser's word: one the server does not know is no zone.
    for forged in ("Mars/Olympus_Mons", "", "../../etc/passwd", "x" * 4000):
        assert reader(None, forged) == Reader("UTC", "default")
    assert reader("America/Sao_Paulo", None).words == "Sao Paulo time (America/Sao_Paulo)"
    assert reader(None, None).words == "UTC"
    assert [reader(m, b).whose for m, b in [("UTC", None), (None, "UTC"), (None, None)]] == [
        ", your time zone",
        ", your browser's time zone",
        "",
    ]


def test_the_mentees_time_is_added_only_where_it_reads_otherwise() -> None:
    moment = datetime(2026, 12, 8, 17, 0, tzinfo=UTC)  # 17:00 in Lisbon, 14:00 in Sao Paulo
    assert for_mentee(moment, "Europe/Lisbon", "America/Sao_Paulo") == (
        "17:00 for the mentee in Lisbon"
    )
    assert for_mentee(moment, "Asia/Tokyo", "America/Sao_Paulo") == (
        "Wed 09 Dec, 02:00 for the mentee in Tokyo"
    )
    assert for_mentee(moment, "Europe/Lisbon", "Europe/London") == ""  # same wall time
    assert for_mentee(moment, "America/Sao_Paulo", "America/Sao_Paulo") == ""
    assert for_mentee(None, "Asia/Tokyo", "UTC") == ""

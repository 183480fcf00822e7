"""The mentor's attendance export: a date range checked, the sessions asked of
attendance, and one CSV row per booking with its times in the slot's own zone,
in the order of those local times."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import HTTPException, status
from fastapi.responses import Response

from contracts.rpc import AttendanceExport, ExportAttendance, ExportedSession
from services.gateway.owners import Owners
from services.gateway.times import zone_of

MAX_DAYS = 366
COLUMNS = [
    "mentee",
    "mentee_email",
    "session_starts_at",
    "timezone",
    "status",
    "marked_by",
    "marked_at",
    "reason",
]


def days(starts_on: date, ends_on: date) -> tuple[datetime, datetime]:
    """Sessions starting from `starts_on` to `ends_on`, both included (UTC days)."""
    if ends_on < starts_on:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, '"to" is before "from"')
    if (ends_on - starts_on).days >= MAX_DAYS:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"export at most {MAX_DAYS} days at a time"
        )
    start = datetime.combine(starts_on, time(), UTC)
    if ends_on == date.max:  # the day after it is not a date
        return start, datetime.max.replace(tzinfo=UTC)
    return start, datetime.combine(ends_on, time(), UTC) + timedelta(days=1)


# A cell starting with one of these is a formula to a spreadsheet (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str | None) -> str:
    """People's words as a spreadsheet shows them, never as a formula it runs."""
    text = value or ""
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def _wall_clock(moment: datetime, zone: ZoneInfo) -> datetime:
    """The minute a clock in `zone` shows at `moment` (no zone, no seconds)."""
    return moment.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)


def _local(moment: datetime | None, zone: ZoneInfo) -> str:
    """`YYYY-MM-DD HH:MM`: spreadsheets read it as a date and time on opening the file
    (LibreOffice's is tested), which they do not for ISO 8601 with seconds' fractions
    and an offset (the `timezone` column names the zone instead)."""
    return "" if moment is None else _wall_clock(moment, zone).isoformat(" ", "minutes")


def _status(session: ExportedSession, now: datetime) -> str:
    if session.status is not None:
        return session.status
    if session.cancelled:
        return "cancelled"
    return "upcoming" if session.starts_at > now else "not marked"


def _in_local_order(sessions: list[ExportedSession]) -> list[ExportedSession]:
    """By start as the CSV shows it (the slots' zones differ, so UTC order is not the
    sheet's order), then by mentee and booking: equal starts in the same order each time."""
    return sorted(
        sessions,
        key=lambda s: (_wall_clock(s.starts_at, zone_of(s.timezone)), s.mentee_name, s.booking_id),
    )


def attendance_csv(sessions: list[ExportedSession], now: datetime) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for s in _in_local_order(sessions):
        zone = zone_of(s.timezone)
        writer.writerow(
            [
                _text(s.mentee_name),
                _text(s.mentee_email),
                _local(s.starts_at, zone),
                s.timezone,
                _status(s, now),
                s.marked_by or "",
                _local(s.marked_at, zone),
                _text(s.reason),
            ]
        )
    return out.getvalue()


async def download(
    owners: Owners, mentor_id: UUID, starts_on: date, ends_on: date, now: datetime
) -> Response:
    """The CSV of the mentor's sessions in the range, as a file to save."""
    starts_from, starts_before = days(starts_on, ends_on)
    request = ExportAttendance(
        mentor_id=mentor_id, starts_from=starts_from, starts_before=starts_before
    )
    reply = await owners.ask(request, AttendanceExport)
    name = f"attendance-{starts_on.isoformat()}-{ends_on.isoformat()}.csv"
    return Response(
        attendance_csv(reply.sessions, now),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )

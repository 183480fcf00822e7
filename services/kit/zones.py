"""Time zones as people name them, for every service that shows a time to someone."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone_of(zone: str | None) -> ZoneInfo:
    """The IANA zone `zone`, or UTC when it is unknown (or not given)."""
    try:
        return ZoneInfo(zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def place(zone: str | None) -> str:
    """An IANA zone as people say it: America/Sao_Paulo is Sao Paulo."""
    return zone_of(zone).key.rsplit("/", 1)[-1].replace("_", " ")

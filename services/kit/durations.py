"""How long something lasts, as people read it (pure): one way for the pages and emails."""

from __future__ import annotations

from datetime import timedelta

from contracts.policy import plural


def duration_words(length: timedelta) -> str:
    """e.g. '1 hour', '1 hour 30 minutes', '45 minutes' (whole minutes)."""
    hours, minutes = divmod(int(length.total_seconds()) // 60, 60)
    words = [plural(hours, "hour")] if hours else []
    return " ".join([*words, plural(minutes, "minute")] if minutes or not hours else words)

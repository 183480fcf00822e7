"""The raw broker baseline shared by `bench/broker.py` (writes it) and `bench/sweep.py`
(reads it, to print its figure as a fraction of what the broker alone does)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "artifacts" / "bench" / "broker.json"

# Broker messages per swept booking in the sweep cascade, as counted in issue 14: per
# subscription (2 swept bookings) 5 publishes (2 `booking.unattended`, `mentee.warned`,
# `mentee.reprobated`, `bookings.cancelled`) and 6 deliveries (`mentee.reprobated` goes
# to booking and notifications): 5.5 publish+consume pairs, as the baseline moves them.
MESSAGES_PER_BOOKING = 2.75
# The target: the cascade at 0.4 of the broker-bound limit.
TARGET_FRACTION = 0.4
# A baseline older than this is not "the same run".
RECENT = timedelta(hours=6)


def recent_baseline(now: datetime | None = None) -> dict[str, Any] | None:
    """The figures bench/broker.py last wrote, when they are recent enough to compare."""
    try:
        record = json.loads(BASELINE.read_text())
        measured = datetime.fromisoformat(record["measured_at"])
        float(record["broker_messages_per_second"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if (now or datetime.now(UTC)) - measured > RECENT:
        return None
    return dict(record)

"""What the services write to their logs after the lifecycle scenarios ran.

Named to run after test_lifecycle.py (pytest runs files in name order) so that
every service has handled messages by then.
"""

from __future__ import annotations

import json
import re

import httpx
import pytest

from services.kit.settings import Settings
from tests.support.system import SERVICES, System

pytestmark = pytest.mark.e2e


def json_lines(system: System, service: str) -> list[dict[str, object]]:
    lines = [line for line in system.log_of(service).splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"{service} wrote a line that is not JSON: {line[:200]}")
    return parsed


async def test_every_handled_message_is_one_structured_line_saying_what_happened_to_whom(
    settings: Settings, system: System
) -> None:
    for service in SERVICES:
        handled = [e for e in json_lines(system, service) if e.get("event") == "message handled"]
        if service == "scheduler":
            assert handled == []  # it consumes nothing
            continue
        assert handled, f"{service} logged no handled message"
        for entry in handled:
            assert entry["service"] == service
            assert {"routing_key", "event_id", "outcome", "timestamp", "level"} <= set(entry)
            whom = {"subscription_id", "booking_id", "tick_at"} & set(entry)
            assert whom, entry


async def test_logs_carry_no_secrets_and_no_email_bodies(
    settings: Settings, system: System
) -> None:
    everything = "\n".join(system.log_of(s) for s in (*SERVICES, "gateway"))
    assert settings.jwt_secret not in everything
    assert "Hello " not in everything  # the greeting of every email body
    assert "What happens next" not in everything


async def test_each_service_exposes_its_metrics_after_the_scenarios(system: System) -> None:
    out = system.logs.parent.parent / "metrics"
    out.mkdir(parents=True, exist_ok=True)
    async with httpx.AsyncClient() as client:
        for service in SERVICES:
            response = await client.get(f"http://127.0.0.1:{system.metrics_ports[service]}/metrics")
            assert response.status_code == 200
            (out / f"{service}.txt").write_text(response.text)
            assert "mentorship_outbox_backlog" in response.text
            if service != "scheduler":
                handled = r'mentorship_messages_handled_total\{[^}]*outcome="handled"[^}]*\} [1-9]'
                assert re.search(handled, response.text), service
    booking = (out / "booking.txt").read_text()
    assert "mentorship_bookings_swept_total" in booking
    assert "mentorship_sweep_seconds_count" in booking

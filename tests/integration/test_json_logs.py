"""With LOG_FORMAT=json every line a service writes is one JSON object, FastStream's
own lines included (it answers the service's requests), and a failure's traceback
is a field of its line."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from contracts import SubscriptionEnded
from contracts.rpc import FindBooking, Reply
from services.kit.database import Tx
from services.kit.runtime import Answers, Consumes, ServiceRuntime
from services.kit.settings import Settings
from tests.integration.toy.service import MIGRATIONS
from tests.support.listening import publish, publish_raw
from tests.support.waiting import eventually

NOW = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)


async def refuse(tx: Tx, msg: SubscriptionEnded, needs: None) -> str:
    raise RuntimeError("the handler refuses this one")


async def refuse_to_answer(tx: Tx, request: FindBooking, needs: None) -> Reply:
    raise RuntimeError("the answer refuses this one")


async def test_every_line_is_json_and_a_failure_carries_its_traceback(
    settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    configured = settings.model_copy(update={"log_format": "json", "delivery_limit": 2})
    runtime = ServiceRuntime(f"logs{uuid.uuid4().hex[:6]}", configured, MIGRATIONS, None)
    runtime.register(
        consumes=[Consumes(SubscriptionEnded, refuse)],
        answers=[Answers(FindBooking, refuse_to_answer)],
    )
    app = runtime.app()
    await app.start()
    try:
        ended = SubscriptionEnded(occurred_at=NOW, subscription_id=uuid.uuid4(), ended_at=NOW)
        await publish(configured, ended)  # consumed by the kit's consumer
        request = FindBooking(booking_id=uuid.uuid4())  # answered by FastStream
        await publish_raw(configured, request.routing_key, request.model_dump_json().encode())

        async def written() -> list[str]:
            out, err = capfd.readouterr()
            lines.extend(line for line in (out + err).splitlines() if line.strip())
            return lines

        lines: list[str] = []
        await eventually(
            written, lambda got: sum("message dead-lettered" in g for g in got) == 2, within=20
        )
    finally:
        await app.stop()
    out, err = capfd.readouterr()
    lines.extend(line for line in (out + err).splitlines() if line.strip())

    entries = []
    for line in lines:
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"a line that is not JSON: {line[:300]}")
    failures = [e for e in entries if "RuntimeError" in str(e.get("exception", ""))]
    assert failures, "no line carries the handler's traceback as a field"
    assert all("Traceback" in str(e["exception"]) for e in failures)
    assert {e.get("logger", "") for e in failures} >= {
        "services.kit.consuming",
        f"faststream.access.{runtime.name}",
    }, "the consumer's or FastStream's error line did not come through our format"

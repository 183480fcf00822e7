"""The scheduler on the real broker and database: one tick per interval, whatever the replicas."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from faststream import FastStream

from contracts import SweepTick
from services.kit.runtime import ServiceRuntime
from services.kit.settings import Settings
from services.scheduler import store
from services.scheduler.app import create_runtime
from tests.conftest import derived
from tests.support.listening import Listener, listening

INTERVAL = 1.0


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    # Each test its own namespace: its own last tick and its own leader lock.
    return derived(settings, f"sch{abs(hash(request.node.name)) % 10**6}").model_copy(
        update={"sweep_interval_seconds": INTERVAL}
    )


@pytest_asyncio.fixture(loop_scope="session")
async def ticks(settings: Settings) -> AsyncIterator[Listener]:
    async with listening(settings, ["sweep.tick"]) as listener:
        yield listener


async def started(settings: Settings) -> tuple[ServiceRuntime, FastStream]:
    runtime = create_runtime(settings)
    app = runtime.app()
    await app.start()
    return runtime, app


async def test_two_schedulers_send_one_tick_per_interval(
    settings: Settings, ticks: Listener
) -> None:
    (_, first), (_, second) = await started(settings), await started(settings)
    try:
        await ticks.wait_for(SweepTick)
        await asyncio.sleep(3.5 * INTERVAL)
        sent = ticks.of(SweepTick)
    finally:
        await first.stop()
        await second.stop()
    assert 3 <= len(sent) <= 5  # one every interval, not two
    gaps = [(b.tick_at - a.tick_at).total_seconds() for a, b in itertools.pairwise(sent)]
    assert all(gap >= INTERVAL * 0.99 for gap in gaps), gaps


async def test_the_follower_takes_over_when_the_leader_stops(
    settings: Settings, ticks: Listener
) -> None:
    _, leader = await started(settings)
    await ticks.wait_for(SweepTick)
    _, follower = await started(settings)
    try:
        await leader.stop()
        stopped_at = datetime.now(UTC)
        await asyncio.sleep(0.2)
        before = len(ticks.of(SweepTick))
        after = await ticks.wait_for(SweepTick, before + 1, within=3 * INTERVAL + 5)
        assert len(after) > before
        assert after[-1].tick_at - stopped_at < timedelta(seconds=INTERVAL + 5.5)
    finally:
        await follower.stop()


async def test_after_downtime_one_catch_up_tick_not_a_burst(
    settings: Settings, ticks: Listener
) -> None:
    runtime = create_runtime(settings)
    await runtime.db.prepare(runtime.migrations)
    async with runtime.db.transaction() as tx:
        await store.save_last_tick(tx, datetime.now(UTC) - timedelta(hours=30))
    _, app = await started(settings)
    try:
        [catch_up] = await ticks.wait_for(SweepTick)
        await asyncio.sleep(0.6 * INTERVAL)
        assert ticks.of(SweepTick) == [catch_up]
    finally:
        await app.stop()
        await runtime.db.dispose()

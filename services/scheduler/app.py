"""Wiring of the scheduler: no consumers, one leader loop."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from faststream import FastStream

from contracts import SweepTick
from services.kit.runtime import ServiceRuntime
from services.kit.settings import Settings
from services.scheduler.handlers import Leadership

MIGRATIONS = Path(__file__).parent / "migrations"


def create_runtime(settings: Settings) -> ServiceRuntime[None]:
    runtime = ServiceRuntime("scheduler", settings, MIGRATIONS, None)
    leadership = Leadership(runtime.db, timedelta(seconds=settings.sweep_interval_seconds))
    runtime.register(publishes=[SweepTick])
    runtime.in_background("scheduler leadership", leadership.run)
    return runtime


def create_app(settings: Settings) -> FastStream:
    return create_runtime(settings).app()

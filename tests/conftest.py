"""Every test run gets its own MENTORSHIP_NAMESPACE on the real broker and database."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator

import pytest

from services.kit.settings import Settings
from tests.support.infrastructure import clean_namespace, infrastructure

NAMESPACE = f"test{uuid.uuid4().hex[:10]}"


def derived(settings: Settings, suffix: str) -> Settings:
    """Settings in a namespace of its own, for a suite that must not share queues
    or databases with others; cleaned up with the run's namespace."""
    return settings.model_copy(update={"mentorship_namespace": f"{NAMESPACE}{suffix}"})


os.environ["MENTORSHIP_NAMESPACE"] = NAMESPACE


@pytest.fixture(scope="session")
def settings() -> Iterator[Settings]:
    with infrastructure() as (rabbitmq_url, postgres_url):
        os.environ["RABBITMQ_URL"] = rabbitmq_url
        os.environ["POSTGRES_URL"] = postgres_url
        settings = Settings(
            rabbitmq_url=rabbitmq_url,
            postgres_url=postgres_url,
            mentorship_namespace=NAMESPACE,
            outbox_poll_seconds=0.2,
        )
        yield settings
        asyncio.run(clean_namespace(settings))

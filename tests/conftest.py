"""Every test run gets its own MENTORSHIP_NAMESPACE on the real broker and database."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterator
from subprocess import TimeoutExpired

import pytest
from aiormq.exceptions import AMQPConnectionError

from services.kit.settings import Settings
from tests.support.infrastructure import clean_namespace, infrastructure

NAMESPACE = f"test{uuid.uuid4().hex[:10]}"


# The namespaces derived by the module running now, with their settings: cleaned when
# it ends, so that the broker holds few namespaces' queues at a time (each declares some
# forty quorum queues; a broker with 1,024 file handles stops accepting connections once
# a few hundred are open).
_DERIVED_BY_MODULE: dict[str, Settings] = {}


def derived(settings: Settings, suffix: str, *, for_session: bool = False) -> Settings:
    """Settings in a namespace of its own, for a suite that must not share queues
    or databases with others; cleaned up when the module ends (`for_session`: with the
    run's namespace)."""
    own = settings.model_copy(update={"mentorship_namespace": f"{NAMESPACE}{suffix}"})
    if not for_session:
        _DERIVED_BY_MODULE[own.mentorship_namespace] = own
    return own


@pytest.fixture(scope="module", autouse=True)
def _module_namespaces_cleaned() -> Iterator[None]:
    """Set up before the module's own fixtures, so torn down after them (its services
    stopped first)."""
    yield
    while _DERIVED_BY_MODULE:
        _, own = _DERIVED_BY_MODULE.popitem()
        # A fault test's own broker or database may be gone, and its namespace with it.
        with contextlib.suppress(OSError, TimeoutError, AMQPConnectionError, TimeoutExpired):
            asyncio.run(clean_namespace(own))


os.environ["MENTORSHIP_NAMESPACE"] = NAMESPACE
# Services started here create their queues on a broker that nobody kills, so they skip
# the wait that protects new quorum queues from a crash (Settings.quorum_registry_seconds):
# 3.5 s on every start on a new namespace, minutes over the suite. The fault suite, whose
# nodes are killed, gives its services the deployed value (tests/faults/cascade.py).
os.environ["QUORUM_REGISTRY_SECONDS"] = "0"


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

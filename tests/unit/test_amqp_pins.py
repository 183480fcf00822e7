"""aio-pika and aiormq at exactly the versions `services/kit/amqp_wire.py` was written
against: pinned where they are installed from, and checked when a service starts."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import aiormq
import pytest

from services.kit import amqp_wire
from services.kit.messaging import Messaging
from services.kit.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _pins(requirements: list[str]) -> dict[str, str]:
    found = (re.fullmatch(r"([A-Za-z0-9_.-]+)==([^;\s]+)", r.strip()) for r in requirements)
    return {m[1].lower(): m[2] for m in found if m}


def test_pyproject_and_the_lock_pin_what_the_check_requires() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lock = (ROOT / "requirements.lock").read_text().splitlines()
    for pins in (_pins(project["dependencies"]), _pins(lock)):
        assert {name: pins.get(name) for name in amqp_wire.PINNED} == amqp_wire.PINNED


def test_the_installed_versions_pass() -> None:
    amqp_wire.require_pinned_versions()


def test_a_service_refuses_to_start_on_another_version(monkeypatch: pytest.MonkeyPatch) -> None:
    installed = metadata.version

    def version(name: str) -> str:
        return "10.3.0" if name == "aio-pika" else installed(name)

    monkeypatch.setattr(metadata, "version", version)
    with pytest.raises(RuntimeError) as refused:
        Messaging(Settings(), "booking")
    message = str(refused.value)
    assert message.startswith("aio-pika 10.3.0 is installed, 10.2.1 is required: ")
    assert "pyproject.toml" in message


def test_only_the_publishing_connection_gets_a_larger_frame_queue() -> None:
    # FastStream's connection and the robust ones keep aiormq's own.
    assert aiormq.Connection.FRAME_BUFFER_SIZE == 10
    assert amqp_wire.PublishingConnection.FRAME_BUFFER_SIZE == 1024

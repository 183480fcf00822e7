"""docker-compose.yml and the Dockerfile, checked by structure (no Docker engine runs here)."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from services.kit.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
APPS = ("booking", "attendance", "notifications", "scheduler", "gateway")
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]


def test_every_service_and_its_infrastructure_is_there() -> None:
    assert set(SERVICES) == {*APPS, "rabbitmq", "postgres", "mailpit"}
    assert SERVICES["rabbitmq"]["image"].endswith("-management")
    assert "15672:15672" in SERVICES["rabbitmq"]["ports"]
    assert SERVICES["postgres"]["image"].startswith("postgres:")
    assert "8025:8025" in SERVICES["mailpit"]["ports"]
    assert "8000:8000" in SERVICES["gateway"]["ports"]


@pytest.mark.parametrize("app", APPS)
def test_each_app_is_built_from_the_one_dockerfile_and_runs_its_module(app: str) -> None:
    service = SERVICES[app]
    assert service["build"] == "."
    assert service["command"] == ["python", "-m", f"services.{app}"]
    assert importlib.util.find_spec(f"services.{app}.__main__") is not None


@pytest.mark.parametrize("app", APPS)
def test_environment_matches_the_configuration(app: str) -> None:
    env = SERVICES[app]["environment"]
    known = {name.upper() for name in Settings.model_fields}
    assert set(env) <= known, set(env) - known
    assert {"RABBITMQ_URL", "MENTORSHIP_NAMESPACE"} <= set(env)
    required = {
        "booking": {"POSTGRES_URL", "SWEEP_GRACE_MINUTES", "METRICS_PORT"},
        "attendance": {
            "POSTGRES_URL",
            "JOIN_OPENS_MINUTES_BEFORE",
            "WARN_AFTER_ABSENCES",
            "REPROBATE_AFTER_ABSENCES",
            "METRICS_PORT",
        },
        "notifications": {"POSTGRES_URL", "SMTP_HOST", "SMTP_PORT", "SMTP_FROM", "METRICS_PORT"},
        "scheduler": {"POSTGRES_URL", "SWEEP_INTERVAL_SECONDS", "METRICS_PORT"},
        "gateway": {"JWT_SECRET", "STRIPE_WEBHOOK_SECRET", "GATEWAY_PORT", "GATEWAY_HOST"},
    }[app]
    assert required <= set(env)
    assert "rabbitmq:5672" in env["RABBITMQ_URL"]


def test_everything_has_a_healthcheck_and_starts_in_order() -> None:
    for name, service in SERVICES.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    for app in APPS:
        conditions = SERVICES[app]["depends_on"]
        assert "rabbitmq" in conditions
        assert all(c["condition"] == "service_healthy" for c in conditions.values())
    assert "mailpit" in SERVICES["notifications"]["depends_on"]
    assert {"booking", "attendance"} <= set(SERVICES["gateway"]["depends_on"])


def test_the_image_is_slim_and_runs_as_a_non_root_user() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+-slim", dockerfile, re.MULTILINE)
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}
    # Numeric (hadolint DL3066), and the uid of the user the image creates.
    assert users[-1].isdigit()
    assert re.search(rf"useradd .*--uid {users[-1]}\b", dockerfile)
    assert "pip install --no-cache-dir -r requirements.lock" in dockerfile
    assert "pip install --no-cache-dir --no-deps ." in dockerfile


def test_the_lock_pins_every_dependency_within_pyproject_ranges() -> None:
    locked = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not pinned: {line}"
            locked[canonicalize_name(name)] = Version(version)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for dependency in map(Requirement, project["dependencies"]):
        name = canonicalize_name(dependency.name)
        assert name in locked, f"{name} is not in requirements.lock: run `make lock`"
        assert dependency.specifier.contains(locked[name]), (
            f"{name}=={locked[name]} is outside {dependency.specifier}: run `make lock`"
        )

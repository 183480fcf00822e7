"""The gateway's OpenAPI document: Redocly's recommended lint finds nothing in it, not
even a warning, and it says how each operation is authenticated."""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from services.gateway.app import create_app
from services.kit.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
REDOCLY = ROOT / "node_modules" / ".bin" / "redocly"
# Unless told not to, Redocly CLI sends usage data to its makers and asks the npm
# registry for a newer version of itself; a test sends nothing anywhere.
OFFLINE = {
    "REDOCLY_TELEMETRY": "off",
    "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true",
    "REDOCLY_SUPPRESS_NOTIFICATIONS": "true",
    "DO_NOT_TRACK": "1",
}

needs_redocly = pytest.mark.skipif(
    not REDOCLY.exists(), reason="node_modules/.bin/redocly is not installed (npm ci)"
)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(Settings()).openapi()


def lint(document: dict[str, Any], folder: Path) -> list[str]:
    """Each problem Redocly's recommended ruleset finds in `document`, as a line."""
    path = folder / "openapi.json"
    path.write_text(json.dumps(document))
    # Its own login (REDOCLY_AUTHORIZATION) or settings would make it fetch a config.
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDOCLY_")} | OFFLINE
    result = subprocess.run(
        [str(REDOCLY), "lint", "--extends=recommended", "--format=json", str(path)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = json.loads(result.stdout)
    problems = [
        f"{p['severity']} {p['ruleId']} at {p['location'][0]['pointer']}: {p['message']}"
        for p in report["problems"]
    ]
    errors = report["totals"]["errors"]
    assert (result.returncode != 0) == (errors > 0), result.stderr
    return problems


@needs_redocly
def test_redoclys_recommended_lint_finds_no_error_and_no_warning(
    document: dict[str, Any], tmp_path: Path
) -> None:
    problems = lint(document, tmp_path)
    assert problems == [], "\n".join(problems)


@needs_redocly
def test_the_lint_does_find_what_is_wrong(document: dict[str, Any], tmp_path: Path) -> None:
    broken = copy.deepcopy(document)
    del broken["servers"]
    del broken["paths"]["/api/admin/sweep"]["post"]["security"]
    problems = lint(broken, tmp_path)
    assert any(p.startswith("error no-empty-servers") for p in problems), problems
    assert any(
        p.startswith("error security-defined at #/paths/~1api~1admin~1sweep/post") for p in problems
    ), problems


def test_each_operation_says_how_it_is_authenticated(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": schemes["bearer"]["description"],
    }
    assert (schemes["session"]["in"], schemes["session"]["name"]) == ("cookie", "session")
    security = {
        (method, path): operation.get("security")
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }
    bearer, page = [{"bearer": []}], [{"bearer": []}, {"session": []}]
    for (_, path), declared in security.items():
        if path.startswith("/api/"):
            assert declared == bearer, path
        elif path.startswith("/dashboard/"):
            assert declared == page, path
    assert security["post", "/webhooks/stripe"] == []
    assert security["get", "/calendar/{token}.ics"] == []
    assert security["get", "/sign-in"] == []
    assert security["post", "/sign-in"] == [{"bearer": []}, {}]
    assert document["servers"] == [{"url": "/", "description": "this gateway"}]

"""The layout every service keeps (docs/design.md, "Layout of a service and the house rules"),
checked on the source: thin handlers, pure domains, typed stores, and a unit test module for
every domain."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.parent for p in (ROOT / "services").glob("*/domain.py"))
HANDLER_MAX_LINES = 25
IO_LIBRARIES = {"sqlalchemy", "asyncpg", "aio_pika", "faststream", "aiosmtplib", "httpx", "jinja2"}
# Kit modules without I/O that a domain may use.
PURE_KIT = {
    "services.kit.ids",
    "services.kit.errors",
    "services.kit.zones",
    "services.kit.refusals",
    "services.kit.backoff",
    "services.kit.durations",
    "services.kit.money",
}
CLOCK_CALLS = {"now", "utcnow", "today", "time", "monotonic"}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def test_every_service_with_rules_is_found() -> None:
    assert {s.name for s in SERVICES} >= {"attendance", "booking", "notifications", "scheduler"}


@pytest.mark.parametrize("service", SERVICES, ids=lambda p: p.name)
def test_handlers_are_thin(service: Path) -> None:
    handlers = service / "handlers.py"
    long = {
        f.name: (f.end_lineno or f.lineno) - f.lineno + 1
        for f in _functions(_tree(handlers))
        if (f.end_lineno or f.lineno) - f.lineno + 1 > HANDLER_MAX_LINES
    }
    assert long == {}, f"handlers longer than {HANDLER_MAX_LINES} lines: {long}"


# Rules a service keeps beside its domain.py, held to the same: they build on it.
MORE_RULES = {"attendance": ("appeals.py", "makeups.py"), "booking": ("makeups.py",)}
RULES = [
    service / module
    for service in SERVICES
    for module in ("domain.py", *MORE_RULES.get(service.name, ()))
]


@pytest.mark.parametrize("rules", RULES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_the_domain_does_no_io_and_reads_no_clock(rules: Path) -> None:
    service = rules.parent
    tree = _tree(rules)
    imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    imported += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    io = {m for m in imported if m.split(".")[0] in IO_LIBRARIES}
    assert io == set(), f"the domain imports I/O libraries: {io}"
    allowed = {f"services.{service.name}", f"services.{service.name}.domain", *PURE_KIT}
    foreign = {m for m in imported if m.startswith("services.")} - allowed
    assert foreign == set(), f"a domain uses only contracts, its service, pure kit: {foreign}"
    clock = [
        ast.unparse(n)
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and n.func.attr in CLOCK_CALLS
        and ast.unparse(n.func.value) in {"datetime", "date", "time", "datetime.datetime"}
    ]
    assert clock == [], f"the domain reads the clock: {clock}"


@pytest.mark.parametrize("service", SERVICES, ids=lambda p: p.name)
def test_store_signatures_are_typed(service: Path) -> None:
    untyped = []
    for function in _functions(_tree(service / "store.py")):
        arguments = function.args.args + function.args.kwonlyargs
        for name, annotation in [(a.arg, a.annotation) for a in arguments] + [
            ("return", function.returns)
        ]:
            text = ast.unparse(annotation) if annotation is not None else "no annotation"
            if annotation is None or "Any" in text or "Row" in text:
                untyped.append(f"{function.name}({name}): {text}")
    assert untyped == [], untyped


@pytest.mark.parametrize("service", SERVICES, ids=lambda p: p.name)
def test_every_domain_has_a_unit_test_module(service: Path) -> None:
    module = f"services.{service.name}.domain"
    testers = [
        p.name
        for p in (ROOT / "tests" / "unit").glob("test_*.py")
        if f"from {module} import" in p.read_text()
        or f"import {module}" in p.read_text()
        or f"from services.{service.name} import domain" in p.read_text()
    ]
    assert testers, f"no unit test imports {module}"

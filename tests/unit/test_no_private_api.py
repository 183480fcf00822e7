"""No code in services/ uses a private name of FastStream, aio-pika, aiormq, SQLAlchemy
or aiosmtplib: an upgrade may change those without a type error.

Read from the source with `ast`: `x._name` where `x` is not `self` or `cls` is allowed
only when the project itself defines `_name` and none of those libraries does; imports
of a private module or name of theirs are refused, as are FastStream context keys of
its own private kind (`"handler_"`).
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIBRARIES = ("faststream", "aio_pika", "aiormq", "sqlalchemy", "aiosmtplib")
# SQLAlchemy's `Row` names its public API with one underscore, so that it cannot clash
# with a column's name (documented: "Row._mapping", "Row._asdict()" and so on).
ROW_API = frozenset({"_mapping", "_asdict", "_fields", "_t", "_tuple"})
# Ways a FastStream context key is read.
CONTEXT_READS = frozenset({"get_local", "Context", "resolve"})


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _defined(paths: Iterable[Path]) -> frozenset[str]:
    """Private names that the code in `paths` defines (functions, classes, attributes,
    variables)."""
    names: set[str] = set()
    for path in paths:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
    return frozenset(n for n in names if _private(n))


@cache
def library_private_names() -> frozenset[str]:
    names: set[str] = set()
    for library in LIBRARIES:
        spec = importlib.util.find_spec(library)
        assert spec is not None and spec.origin is not None, library
        names |= _defined(Path(spec.origin).parent.rglob("*.py"))
    return frozenset(names)


@cache
def project_private_names() -> frozenset[str]:
    return _defined(p for d in ("services", "contracts") for p in (ROOT / d).rglob("*.py"))


def _library_module(module: str) -> bool:
    return module.split(".", 1)[0] in LIBRARIES


def _private_key(key: str) -> bool:
    return any(part.startswith("_") or part.endswith("_") for part in key.split("."))


def offences(source: str) -> Iterator[tuple[int, str]]:
    """(line, what) for each use of a library's private name in `source`."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            receiver = node.value
            if isinstance(receiver, ast.Name) and receiver.id in ("self", "cls"):
                continue
            if node.attr in ROW_API:
                continue
            ours = node.attr in project_private_names()
            if not ours or node.attr in library_private_names():
                yield node.lineno, f"attribute {node.attr}"
        elif isinstance(node, ast.ImportFrom) and node.module and _library_module(node.module):
            if any(_private(part) for part in node.module.split(".")):
                yield node.lineno, f"module {node.module}"
            for alias in node.names:
                if _private(alias.name):
                    yield node.lineno, f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if _library_module(alias.name) and any(_private(p) for p in parts):
                    yield node.lineno, f"module {alias.name}"
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            literal = first.value if isinstance(first, ast.Constant) else None
            if name in ("getattr", "setattr", "hasattr", "delattr") and len(node.args) > 1:
                second = node.args[1]
                attr = second.value if isinstance(second, ast.Constant) else None
                if isinstance(attr, str) and _private(attr) and attr not in project_private_names():
                    yield node.lineno, f"{name} {attr}"
            elif name in CONTEXT_READS and isinstance(literal, str) and _private_key(literal):
                yield node.lineno, f"context key {literal!r}"


def test_no_service_uses_a_private_name_of_its_libraries() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in sorted((ROOT / "services").rglob("*.py"))
        for line, what in offences(path.read_text(encoding="utf-8"))
    ]
    assert found == []


def test_the_check_finds_each_kind_of_private_use() -> None:
    source = """
from faststream._internal.context import ContextRepo
from sqlalchemy.engine import _private_thing
import aiormq._frames
async def f(tx, row, self, middleware):
    await (await tx.get_raw_connection()).dbapi_connection._start_transaction()
    subscriber = middleware.context.get_local("handler_")
    getattr(tx, "_proxied")
    self._mine = row._mapping
"""
    assert sorted(what for _, what in offences(source)) == [
        "attribute _start_transaction",
        "context key 'handler_'",
        "getattr _proxied",
        "module aiormq._frames",
        "module faststream._internal.context",
        "sqlalchemy.engine._private_thing",
    ]


def test_a_private_name_of_the_project_that_a_library_also_defines_is_refused() -> None:
    # `_transaction` is SQLAlchemy's (its asyncpg adapter) even if a service named
    # something so too: the receiver cannot be told apart from the source.
    assert "_transaction" in library_private_names()
    assert list(offences("x = connection._transaction")) == [(1, "attribute _transaction")]

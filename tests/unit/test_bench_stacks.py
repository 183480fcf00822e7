"""How `bench/stacks.py` charges py-spy's samples to the parts of a service."""

from __future__ import annotations

from bench.stacks import part_of, parts

SITE = "/work/main/.venv/lib/python3.11/site-packages"
STDLIB = "/root/.pyenv/versions/3.11.7/lib/python3.11"


def test_a_frame_belongs_to_its_library_or_project_module() -> None:
    assert part_of(f"{SITE}/asyncpg/connection.py") == "asyncpg"
    assert part_of(f"{SITE}/uvicorn/protocols/http/httptools_impl.py") == "uvicorn"
    assert part_of("/work/main/services/attendance/domain.py") == "attendance.domain"
    assert part_of("/work/main/services/kit/__init__.py") == "kit"
    assert part_of(f"{STDLIB}/asyncio/events.py") == "asyncio"
    assert part_of(f"{STDLIB}/json/decoder.py") == "json"
    assert part_of(f"{STDLIB}/uuid.py") is None
    assert part_of("<frozen importlib._bootstrap>") is None
    # as py-spy writes them: relative to their sys.path entry
    assert part_of("asyncpg/connection.py") == "asyncpg"
    assert part_of("services/attendance/store.py") == "attendance.store"
    assert part_of("services/attendance/__main__.py") is None
    assert part_of("asyncio/runners.py") == "asyncio"
    assert part_of("uuid.py") is None
    assert part_of("uvloop/__init__.py") == "uvloop"


def test_a_sample_is_charged_to_the_innermost_named_part() -> None:
    lines = [
        # the domain calling uuid: the domain's
        f"run (asyncio/runners.py:1);handle ({'/w/services/attendance/domain.py'}:10);"
        f"__init__ ({STDLIB}/uuid.py:5) 7",
        # the domain calling asyncpg: asyncpg's
        f"handle (/w/services/attendance/store.py:3);execute ({SITE}/asyncpg/connection.py:9) 3",
        # nothing named at all
        f"__init__ ({STDLIB}/uuid.py:5) 2",
        "not a line",
    ]
    assert parts(lines) == {
        "attendance.domain": 7,
        "asyncpg": 3,
        "other (interpreter, C code)": 2,
    }

"""Where a Python process's CPU goes, from py-spy's samples.

`bench/join.py --profile DIR` runs `py-spy record --format raw` on each service while
a step is offered; each line of such a file is a stack (`frame;frame;…`, the root
first, each frame `function (file:line)`) and how many samples ended in it. A
sample is charged to the innermost frame that belongs to a part worth naming: a
module of this project (`attendance.domain`), a library (`asyncpg`, `uvicorn`,
`pydantic`…), or one of the standard library's modules that do work of their own
(`asyncio`, `json`, `logging`…). Other standard-library frames (`uuid`,
`datetime`, `enum`…) are charged to their caller, so `uuid.UUID(...)` called by
the domain counts as the domain's. Multiplying a part's share by the process's CPU
seconds from /proc gives its milliseconds per join.

    python bench/stacks.py FILE [FILE...]   # prints each file's parts
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

# Standard-library modules charged by name: the rest is charged to its caller.
STDLIB_PARTS = ("asyncio", "json", "logging", "ssl", "selectors", "email", "gc")

# The loop's own work: uvloop's C code runs under asyncio's `Runner.run` frame.
EVENT_LOOP = "event loop (asyncio, uvloop)"

_FRAME_FILE = re.compile(r"\((?P<file>[^():]+)(?::\d+)?\)\s*$")


def part_of(path: str) -> str | None:
    """The part a frame's file belongs to, or None to charge its caller. py-spy names
    files relative to their `sys.path` entry (`asyncpg/connection.py`,
    `services/attendance/store.py`); absolute paths are read the same way."""
    if path.startswith("<"):
        return None
    for prefix in ("site-packages/", "/lib/python3."):
        if prefix in path:
            path = path.split(prefix, 1)[1]
            if prefix == "/lib/python3.":
                path = path.split("/", 1)[1] if "/" in path else path
    if "/services/" in path:
        path = "services/" + path.rsplit("/services/", 1)[1]
    top, _, rest = path.partition("/")
    top = top.removesuffix(".py")
    if top == "services":
        if not rest or rest.endswith("__main__.py"):
            return None
        return rest.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    if top in sys.stdlib_module_names:
        return top if top in STDLIB_PARTS else None
    return top


def parts(lines: list[str]) -> Counter[str]:
    """Samples per part, from py-spy's raw (collapsed) output."""
    counted: Counter[str] = Counter()
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        owner = "other (interpreter, C code)"
        for frame in reversed(stack.split(";")):
            match = _FRAME_FILE.search(frame)
            found = part_of(match.group("file")) if match else None
            if found is not None:
                owner = found
                break
        counted[EVENT_LOOP if owner == "asyncio" else owner] += int(count)
    return counted


def shares(path: Path) -> dict[str, float]:
    """Each part's share of the samples in one raw file (empty if it has none)."""
    counted = parts(path.read_text(errors="replace").splitlines())
    total = sum(counted.values())
    return {name: n / total for name, n in counted.most_common()} if total else {}


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(name)
        for part, share in shares(Path(name)).items():
            print(f"  {share * 100:5.1f}%  {part}")

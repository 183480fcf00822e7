"""Pin the runtime dependencies of pyproject.toml into requirements.lock.

    python scripts/lock.py    # or: make lock

Resolves with pip (a dry run: nothing is installed) and writes every package
that `pip install .` would bring, at an exact version. The Dockerfile installs
from this file, so an image gets the versions the tests ran with.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = """\
# The runtime dependencies of pyproject.toml, resolved and pinned (Python 3.11, Linux).
# The Dockerfile installs exactly these. Refresh with `make lock`.
"""


def main() -> int:
    report = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            "--report",
            "-",
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    pins = sorted(
        (item["metadata"]["name"].lower(), item["metadata"]["version"])
        for item in json.loads(report)["install"]
        if item["metadata"]["name"].lower() != "mentorship-attendance"
    )
    lines = [f"{name}=={version}" for name, version in pins]
    (ROOT / "requirements.lock").write_text(HEADER + "\n".join(lines) + "\n")
    print(f"pinned {len(lines)} packages in requirements.lock")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

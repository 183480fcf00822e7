"""Which PostgreSQL a benchmark measures.

By default (`--postgres own`) a cluster of the benchmark's own, started like the
fault suite's and configured as a deployment guide would configure a dedicated
server (`tests.support.nodes.PRODUCTION_SETTINGS`: autovacuum on, PGTune's OLTP
profile); `--postgres machine` uses `POSTGRES_URL`, the machine's server, which
here runs with autovacuum off and would flatter or penalize plans a deployment
never sees.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator

from services.kit.settings import Settings
from tests.support.nodes import PrivatePostgres, private_nodes_available, remove, temporary_base

CHOICES = ("own", "machine")


def add_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--postgres",
        choices=CHOICES,
        default="own",
        help="own: a PostgreSQL of its own with a deployment's settings (default); "
        "machine: POSTGRES_URL",
    )


@contextlib.contextmanager
def postgres_url(choice: str) -> Iterator[str]:
    if choice == "machine":
        yield Settings().postgres_url
        return
    why_not = private_nodes_available()
    if why_not:
        raise SystemExit(f"--postgres own cannot run here ({why_not}); try --postgres machine")
    base = temporary_base("bench-postgres-")
    server = PrivatePostgres(base / "postgres")
    try:
        took = server.start()
        print(
            f"PostgreSQL of its own on port {server.port} (a deployment's settings, "
            f"autovacuum on), started in {took:.1f} s",
            flush=True,
        )
        yield server.url
    finally:
        server.stop()
        remove(base)

"""The body of every service's `migrations/env.py`.

Migrations run on a connection handed over by `Database.migrate` (inside its
transaction and advisory lock), never on one of their own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import MetaData


def run_migrations(context: Any, metadata: MetaData) -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "migrations run on service start (Database.migrate); "
            "start the service instead of calling alembic directly"
        )
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()

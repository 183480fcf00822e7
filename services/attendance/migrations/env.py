from alembic import context

from services.attendance.store import metadata
from services.kit.alembic_env import run_migrations

run_migrations(context, metadata)

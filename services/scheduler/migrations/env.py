from alembic import context

from services.kit.alembic_env import run_migrations
from services.scheduler.store import metadata

run_migrations(context, metadata)

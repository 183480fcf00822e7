from alembic import context

from services.booking.store import metadata
from services.kit.alembic_env import run_migrations

run_migrations(context, metadata)

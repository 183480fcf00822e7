from alembic import context

from services.kit.alembic_env import run_migrations
from tests.integration.toy.service import metadata

run_migrations(context, metadata)

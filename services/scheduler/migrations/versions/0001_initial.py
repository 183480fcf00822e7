"""last_tick, outbox and inbox

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

from services.kit.tables import create_outbox_and_inbox, drop_outbox_and_inbox

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_outbox_and_inbox()
    op.create_table(
        "last_tick",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("tick_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("last_tick")
    drop_outbox_and_inbox()

"""effects, outbox and inbox

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

from services.kit.tables import create_outbox_and_inbox, drop_outbox_and_inbox

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_outbox_and_inbox()
    op.create_table(
        "effects",
        sa.Column("event_id", UUID(as_uuid=True), nullable=False),
        sa.Column("subscription_id", UUID(as_uuid=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("effects")
    drop_outbox_and_inbox()

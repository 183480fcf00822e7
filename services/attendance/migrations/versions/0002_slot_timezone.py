"""subscriptions keep their slot's time zone, to show session times in it

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    # Rows from before this revision get UTC: the times stay right, only less local.
    op.add_column(
        "subscriptions",
        sa.Column("slot_timezone", sa.String(64), nullable=False, server_default="UTC"),
    )


def downgrade() -> None:
    op.drop_column("subscriptions", "slot_timezone")

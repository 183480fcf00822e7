"""makeups: one make-up session owed per booking the mentor did not come to

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "makeups",
        sa.Column("missed_booking_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("subscription_id", UUID(as_uuid=True), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("owed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("makeups_of_subscription", "makeups", ["subscription_id"])


def downgrade() -> None:
    op.drop_index("makeups_of_subscription", table_name="makeups")
    op.drop_table("makeups")

"""a mentee may appeal an absence (APPEAL_DAYS); the mentor accepts or rejects it

Revision ID: 0011
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    op.create_table(
        "appeals",
        sa.Column("appeal_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("subscription_id", UUID(as_uuid=True), nullable=False),
        sa.Column("booking_id", UUID(as_uuid=True), nullable=False),
        sa.Column("contested_status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(10), nullable=False, server_default="open"),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("decision_reason", sa.Text),
    )
    op.create_index("appeals_of_subscription", "appeals", ["subscription_id", "filed_at"])
    op.create_index("appeals_of_booking", "appeals", ["booking_id"])
    # The domain allows one open appeal per booking; the table holds to it too.
    op.create_index(
        "one_open_appeal_per_booking",
        "appeals",
        ["booking_id"],
        unique=True,
        postgresql_where=sa.text("status = 'open'"),
    )


def downgrade() -> None:
    op.drop_table("appeals")

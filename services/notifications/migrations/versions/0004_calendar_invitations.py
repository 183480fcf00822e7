"""emails carry their calendar part; the sessions invited to a calendar, and those
cancelled

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.add_column("emails", sa.Column("calendar", sa.Text))
    op.create_table(
        "invitations",
        sa.Column("booking_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("subscription_id", UUID(as_uuid=True), nullable=False),
        # invited | cancelled (a cancellation seen before any invitation keeps one away)
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True)),
        sa.Column("ends_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("invitations")
    op.drop_column("emails", "calendar")

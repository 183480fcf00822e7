"""the reminders the sweep found due, one row per booking and offset

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "reminders",
        sa.Column(
            "booking_id",
            UUID(as_uuid=True),
            sa.ForeignKey("bookings.booking_id"),
            primary_key=True,
        ),
        sa.Column("hours_before", sa.Integer, primary_key=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    )
    # The reminder scan: scheduled bookings by start.
    op.create_index(
        "bookings_upcoming",
        "bookings",
        ["starts_at"],
        postgresql_where=sa.text("status = 'scheduled'"),
    )


def downgrade() -> None:
    op.drop_index("bookings_upcoming", table_name="bookings")
    op.drop_table("reminders")

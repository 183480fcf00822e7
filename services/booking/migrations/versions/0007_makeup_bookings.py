"""make-up bookings: a booking's kind (the weekly slot's, or a make-up for a missed
session) and the make-up booked for a credit

Revision ID: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.add_column(
        "bookings", sa.Column("kind", sa.String(10), nullable=False, server_default="slot")
    )
    op.add_column("bookings", sa.Column("makeup_for", UUID(as_uuid=True)))
    op.add_column("makeups", sa.Column("booking_id", UUID(as_uuid=True)))
    op.create_index("ix_makeups_booking_id", "makeups", ["booking_id"])
    # A make-up's time is checked against every session of its mentor.
    op.create_index("ix_subscriptions_mentor_id", "subscriptions", ["mentor_id"])


def downgrade() -> None:
    op.drop_index("ix_subscriptions_mentor_id", table_name="subscriptions")
    op.drop_index("ix_makeups_booking_id", table_name="makeups")
    op.drop_column("makeups", "booking_id")
    op.drop_column("bookings", "makeup_for")
    op.drop_column("bookings", "kind")

"""make-up bookings: a booking's kind (the weekly slot's, or a make-up for a missed
session), the make-up booked for a credit, and the refunds of expired ones

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
    # The sweep's expiry looks only at the credits still owed.
    op.create_index(
        "makeups_owed",
        "makeups",
        ["missed_booking_id"],
        postgresql_where=sa.text("status = 'owed'"),
    )
    op.create_table(
        "makeup_refunds",
        sa.Column("missed_booking_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("status", sa.String(10), nullable=False, server_default="due"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("amount", sa.Integer),
        sa.Column("currency", sa.String(3)),
        sa.Column("stripe_balance_transaction_id", sa.String(255)),
        sa.Column("refunded_at", sa.DateTime(timezone=True)),
    )
    op.create_index(
        "makeup_refunds_due",
        "makeup_refunds",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'due'"),
    )


def downgrade() -> None:
    op.drop_table("makeup_refunds")
    op.drop_index("makeups_owed", table_name="makeups")
    op.drop_index("ix_subscriptions_mentor_id", table_name="subscriptions")
    op.drop_index("ix_makeups_booking_id", table_name="makeups")
    op.drop_column("makeups", "booking_id")
    op.drop_column("bookings", "makeup_for")
    op.drop_column("bookings", "kind")

"""subscriptions, bookings with their marks, outbox and inbox

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
        "subscriptions",
        sa.Column("subscription_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("mentee_id", UUID(as_uuid=True), nullable=False),
        sa.Column("mentee_name", sa.String(255), nullable=False),
        sa.Column("mentee_email", sa.String(320), nullable=False),
        sa.Column("mentor_id", UUID(as_uuid=True), nullable=False, index=True),
        sa.Column("cycle_starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cycle_ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("is_reprobated", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("reprobated_at", sa.DateTime(timezone=True)),
        sa.Column("reactivated_at", sa.DateTime(timezone=True)),
        sa.Column("warned_for", sa.String(64)),
        sa.Column("consecutive_absences", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "bookings",
        sa.Column("booking_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("subscription_id", UUID(as_uuid=True), nullable=False),
        sa.Column("mentee_id", UUID(as_uuid=True), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("attended", sa.Boolean),
        sa.Column("marked_by", sa.String(20)),
        sa.Column("marked_at", sa.DateTime(timezone=True)),
    )
    op.create_index(
        "attendance_bookings_by_subscription", "bookings", ["subscription_id", "starts_at"]
    )


def downgrade() -> None:
    op.drop_table("bookings")
    op.drop_table("subscriptions")
    drop_outbox_and_inbox()

"""subscriptions, bookings, outbox and inbox

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from services.kit.tables import create_outbox_and_inbox, drop_outbox_and_inbox

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_outbox_and_inbox()
    op.create_table(
        "subscriptions",
        sa.Column("subscription_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("stripe_subscription_id", sa.String(255)),
        sa.Column("mentee_id", UUID(as_uuid=True), nullable=False, index=True),
        sa.Column("mentor_id", UUID(as_uuid=True), nullable=False),
        sa.Column("slot", JSONB, nullable=False),
        sa.Column("cycle_starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cycle_ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="active"),
        sa.Column("reprobated_at", sa.DateTime(timezone=True)),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "bookings",
        sa.Column("booking_id", UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "subscription_id",
            UUID(as_uuid=True),
            sa.ForeignKey("subscriptions.subscription_id"),
            nullable=False,
        ),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="scheduled"),
        sa.Column("attended", sa.Boolean),
        sa.Column("marked_by", sa.String(20)),
        sa.Column("marked_at", sa.DateTime(timezone=True)),
        sa.Column("detected_at", sa.DateTime(timezone=True)),
        sa.Column("cancelled_reason", sa.String(40)),
    )
    op.create_index(
        "bookings_one_live_per_slot",
        "bookings",
        ["subscription_id", "starts_at"],
        unique=True,
        postgresql_where=sa.text("status <> 'cancelled'"),
    )
    op.create_index(
        "bookings_due", "bookings", ["ends_at"], postgresql_where=sa.text("status = 'scheduled'")
    )
    op.create_index("bookings_by_subscription", "bookings", ["subscription_id", "starts_at"])


def downgrade() -> None:
    op.drop_table("bookings")
    op.drop_table("subscriptions")
    drop_outbox_and_inbox()

"""contacts, emails, waiting events, outbox and inbox

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
        "contacts",
        sa.Column("subscription_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("mentee_name", sa.String(255), nullable=False),
        sa.Column("mentee_email", sa.String(320), nullable=False),
        sa.Column("mentor_name", sa.String(255), nullable=False),
        sa.Column("mentor_email", sa.String(320), nullable=False),
        sa.Column("slot", JSONB, nullable=False),
        sa.Column("cycle_ends_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "emails",
        sa.Column("message_id", sa.String(200), primary_key=True),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False),
        sa.Column("routing_key", sa.String(100), nullable=False),
        sa.Column("event_body", JSONB, nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("cc", sa.String(320)),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("text_body", sa.Text, nullable=False),
        sa.Column("html_body", sa.Text, nullable=False),
        sa.Column("status", sa.String(10), nullable=False, server_default="queued"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
    )
    op.create_index(
        "emails_queued",
        "emails",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'queued'"),
    )
    op.create_table(
        "waiting_events",
        sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("subscription_id", UUID(as_uuid=True), nullable=False, index=True),
        sa.Column("routing_key", sa.String(100), nullable=False),
        sa.Column("body", JSONB, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("waiting_events")
    op.drop_table("emails")
    op.drop_table("contacts")
    drop_outbox_and_inbox()

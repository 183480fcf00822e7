"""each person's private calendar feed: contacts know whose they are, every booked
session is kept, and a random token opens a person's feed

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    # Null for contacts saved before: their sessions are in nobody's feed.
    op.add_column("contacts", sa.Column("mentee_id", UUID(as_uuid=True)))
    op.add_column("contacts", sa.Column("mentor_id", UUID(as_uuid=True)))
    op.create_index("contacts_of_mentee", "contacts", ["mentee_id"])
    op.create_index("contacts_of_mentor", "contacts", ["mentor_id"])
    op.create_table(
        "sessions",
        sa.Column("booking_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("subscription_id", UUID(as_uuid=True), nullable=False),
        # Null while only a cancellation was heard of.
        sa.Column("starts_at", sa.DateTime(timezone=True)),
        sa.Column("ends_at", sa.DateTime(timezone=True)),
        sa.Column("cancelled", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("sessions_of_subscription", "sessions", ["subscription_id", "ends_at"])
    op.create_table(
        "calendar_feeds",
        sa.Column("token", sa.String(64), primary_key=True),
        sa.Column("person_id", UUID(as_uuid=True), nullable=False),
        # mentee | mentor: the same person may hold both feeds
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.UniqueConstraint("person_id", "role", name="calendar_feeds_one_per_person"),
    )


def downgrade() -> None:
    op.drop_table("calendar_feeds")
    op.drop_table("sessions")
    op.drop_index("contacts_of_mentor", table_name="contacts")
    op.drop_index("contacts_of_mentee", table_name="contacts")
    op.drop_column("contacts", "mentor_id")
    op.drop_column("contacts", "mentee_id")

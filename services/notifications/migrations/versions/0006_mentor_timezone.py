"""contacts keep the mentor's own time zone, if the activation gave one, and when they
were activated: emails to the mentor read times in the zone of their latest

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    # Null for contacts saved before: their mentor reads times in the slot's zone.
    op.add_column("contacts", sa.Column("mentor_timezone", sa.String(64)))
    op.add_column("contacts", sa.Column("activated_at", sa.DateTime(timezone=True)))
    op.create_index(
        "contacts_mentor_zone",
        "contacts",
        ["mentor_id", sa.text("activated_at DESC NULLS LAST")],
        postgresql_where=sa.text("mentor_timezone IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("contacts_mentor_zone", table_name="contacts")
    op.drop_column("contacts", "activated_at")
    op.drop_column("contacts", "mentor_timezone")

"""subscriptions keep the mentor's own time zone, if the activation gave one, and when
they were activated: the mentor's pages read times in the zone of their latest

Revision ID: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"


def upgrade() -> None:
    # Null for rows from before this revision: their mentor's zone is unknown.
    op.add_column("subscriptions", sa.Column("mentor_timezone", sa.String(64)))
    op.add_column("subscriptions", sa.Column("activated_at", sa.DateTime(timezone=True)))
    op.create_index(
        "subscriptions_mentor_zone",
        "subscriptions",
        ["mentor_id", sa.text("activated_at DESC NULLS LAST")],
        postgresql_where=sa.text("mentor_timezone IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("subscriptions_mentor_zone", table_name="subscriptions")
    op.drop_column("subscriptions", "activated_at")
    op.drop_column("subscriptions", "mentor_timezone")

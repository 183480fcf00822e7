"""a mentee's own page reads their subscriptions by mentee

Revision ID: 0012
"""

from alembic import op

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    op.create_index("ix_subscriptions_mentee_id", "subscriptions", ["mentee_id"])


def downgrade() -> None:
    op.drop_index("ix_subscriptions_mentee_id", table_name="subscriptions")

"""a reached reprobation may wait for the mentor's review (REPROBATION_REVIEW_HOURS)

Revision ID: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.add_column("subscriptions", sa.Column("reprobation_due_at", sa.DateTime(timezone=True)))
    op.create_index(
        "subscriptions_reprobation_due",
        "subscriptions",
        ["reprobation_due_at"],
        postgresql_where=sa.text("reprobation_due_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("subscriptions_reprobation_due", table_name="subscriptions")
    op.drop_column("subscriptions", "reprobation_due_at")

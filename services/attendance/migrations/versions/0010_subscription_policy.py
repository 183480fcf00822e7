"""a subscription may bring its own absence policy; a reprobation under after_days:N
keeps when it lifts (the days may be the subscription's own)

Revision ID: 0010
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.add_column("subscriptions", sa.Column("policy", JSONB))
    op.add_column("subscriptions", sa.Column("reprobation_lifts_at", sa.DateTime(timezone=True)))
    op.create_index(
        "subscriptions_reprobation_lifts",
        "subscriptions",
        ["reprobation_lifts_at"],
        postgresql_where=sa.text("reprobation_lifts_at IS NOT NULL"),
    )
    # Lifts are found by the new column from now on; a reprobation applied under
    # after_days:N before it has none and is lifted by the mentor.
    op.drop_index("subscriptions_reprobated", table_name="subscriptions")


def downgrade() -> None:
    op.create_index(
        "subscriptions_reprobated",
        "subscriptions",
        ["reprobated_at"],
        postgresql_where=sa.text("is_reprobated AND NOT ended"),
    )
    op.drop_index("subscriptions_reprobation_lifts", table_name="subscriptions")
    op.drop_column("subscriptions", "reprobation_lifts_at")
    op.drop_column("subscriptions", "policy")

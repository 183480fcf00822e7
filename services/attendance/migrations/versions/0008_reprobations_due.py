"""the reprobations a tick may lift (REPROBATION_ENDS=after_days:N), by when applied

Revision ID: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.create_index(
        "subscriptions_reprobated",
        "subscriptions",
        ["reprobated_at"],
        postgresql_where=sa.text("is_reprobated AND NOT ended"),
    )


def downgrade() -> None:
    op.drop_index("subscriptions_reprobated", table_name="subscriptions")

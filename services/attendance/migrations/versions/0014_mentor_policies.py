"""mentor_policies: each mentor's own absence policy, as it stood from each edit on
(append-only: a rule met while a version was in force is judged by it)

Revision ID: 0014
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0014"
down_revision = "0013"


def upgrade() -> None:
    op.create_table(
        "mentor_policies",
        sa.Column("mentor_id", UUID(as_uuid=True), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("policy", JSONB, nullable=False),
        sa.PrimaryKeyConstraint("mentor_id", "since"),
    )


def downgrade() -> None:
    op.drop_table("mentor_policies")

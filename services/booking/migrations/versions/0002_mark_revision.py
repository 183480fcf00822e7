"""bookings keep the revision of the attendance mark they hold

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    # Null for every existing row: a mark recorded before revisions cannot be
    # ordered, so the next mark, with a revision or not, replaces it.
    op.add_column("bookings", sa.Column("mark_revision", sa.Integer))


def downgrade() -> None:
    op.drop_column("bookings", "mark_revision")

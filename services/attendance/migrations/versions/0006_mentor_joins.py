"""bookings keep the mentor's first join (a session they never joined is their no-show)

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.add_column("bookings", sa.Column("mentor_joined_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("bookings", "mentor_joined_at")

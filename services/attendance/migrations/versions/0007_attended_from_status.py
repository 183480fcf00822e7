"""a booking's mark is its status alone: `attended` (present or late) is no longer
stored beside it

Revision ID: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.drop_column("bookings", "attended")


def downgrade() -> None:
    op.add_column("bookings", sa.Column("attended", sa.Boolean))
    op.execute(
        "UPDATE bookings SET attended = status IN ('present', 'late') WHERE status IS NOT NULL"
    )

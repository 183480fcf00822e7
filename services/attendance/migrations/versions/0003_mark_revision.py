"""bookings count the marks attendance applied to them (attendance.marked's revision)

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.add_column(
        "bookings",
        sa.Column("mark_revision", sa.Integer, nullable=False, server_default="0"),
    )
    # A booking marked before this revision was marked at least once: its next mark
    # is announced as revision 2, never as a first one.
    op.execute("UPDATE bookings SET mark_revision = 1 WHERE attended IS NOT NULL")


def downgrade() -> None:
    op.drop_column("bookings", "mark_revision")

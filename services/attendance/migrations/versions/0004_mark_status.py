"""marks have a status (present, late, absent, excused, …) and a reason; every streak
warned about is kept, not only the last

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.add_column("bookings", sa.Column("status", sa.String(20)))
    op.add_column("bookings", sa.Column("mark_reason", sa.Text))
    op.execute(
        "UPDATE bookings SET status = CASE WHEN attended THEN 'present' ELSE 'absent' END"
        " WHERE attended IS NOT NULL"
    )
    op.add_column(
        "subscriptions",
        sa.Column("warned_streaks", ARRAY(sa.Text), nullable=False, server_default="{}"),
    )
    op.execute(
        "UPDATE subscriptions SET warned_streaks = ARRAY[warned_for] WHERE warned_for IS NOT NULL"
    )
    op.drop_column("subscriptions", "warned_for")


def downgrade() -> None:
    op.add_column("subscriptions", sa.Column("warned_for", sa.String(64)))
    op.execute(
        "UPDATE subscriptions SET warned_for = warned_streaks[array_length(warned_streaks, 1)]"
    )
    op.drop_column("subscriptions", "warned_streaks")
    op.drop_column("bookings", "mark_reason")
    op.drop_column("bookings", "status")

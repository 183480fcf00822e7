"""bookings keep the status of attendance's mark; swept bookings hold the absence
attendance records for them

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.add_column("bookings", sa.Column("mark_status", sa.String(20)))
    op.execute(
        "UPDATE bookings SET mark_status = CASE WHEN attended THEN 'present' ELSE 'absent' END"
        " WHERE attended IS NOT NULL"
    )
    # Swept before this revision and never marked since: attendance holds an absence.
    op.execute(
        "UPDATE bookings SET attended = false, mark_status = 'absent', marked_by = 'system',"
        " marked_at = detected_at WHERE status = 'unattended' AND attended IS NULL"
    )


def downgrade() -> None:
    op.drop_column("bookings", "mark_status")

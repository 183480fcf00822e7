"""the make-ups in the history: what a make-up's step says beyond it (`makeup`), and each
step's line once per (missed booking, step, time), however often it is announced

Revision ID: 0015
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0015"
down_revision = "0014"


def upgrade() -> None:
    op.add_column("history", sa.Column("makeup", JSONB))
    op.create_index(
        "history_makeup_steps",
        "history",
        ["booking_id", "new_status", "at"],
        unique=True,
        postgresql_where=sa.text("kind = 'makeup'"),
    )


def downgrade() -> None:
    op.drop_index("history_makeup_steps", table_name="history")
    op.drop_column("history", "makeup")

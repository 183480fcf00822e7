"""queued emails claimed through one index: each has a next attempt time from the start

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    # The claim asked for "no next attempt yet, or one that is due" in the order of
    # creation, which two indexes served in part. A new email's next attempt is now its
    # creation, so one index serves both the condition and the order (the claim also
    # keeps PostgreSQL from choosing another plan on stale statistics: see
    # `claim_due_emails`).
    op.execute("UPDATE emails SET next_attempt_at = created_at WHERE next_attempt_at IS NULL")
    op.alter_column("emails", "next_attempt_at", nullable=False, server_default=sa.func.now())
    op.drop_index("emails_due", table_name="emails")


def downgrade() -> None:
    op.create_index(
        "emails_due", "emails", ["created_at"], postgresql_where=sa.text("status = 'queued'")
    )
    op.alter_column("emails", "next_attempt_at", nullable=True, server_default=None)

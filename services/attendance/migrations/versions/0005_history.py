"""an append-only history of every mark change, warning, reprobation and reactivation

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "history",
        sa.Column("entry_id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("subscription_id", UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(10), nullable=False),
        sa.Column("actor_id", UUID(as_uuid=True)),
        sa.Column("booking_id", UUID(as_uuid=True)),
        sa.Column("old_status", sa.String(20)),
        sa.Column("new_status", sa.String(20)),
        sa.Column("reason", sa.Text),
    )
    op.create_index("history_of_subscription", "history", ["subscription_id", "at", "entry_id"])
    # Append-only, by the database itself: a line once written is never changed.
    op.execute(
        """
        CREATE FUNCTION history_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the attendance history is append-only (% refused)', TG_OP;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER history_is_append_only BEFORE UPDATE OR DELETE ON history"
        " FOR EACH STATEMENT EXECUTE FUNCTION history_is_append_only()"
    )


def downgrade() -> None:
    op.drop_table("history")
    op.execute("DROP FUNCTION history_is_append_only()")

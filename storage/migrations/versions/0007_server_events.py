"""Sign-ins to the newsroom server: each login, failed login and login refused
for too many failures, with the name given and the client address.  They
belong to no case (audit_events need one), so they have a table of their
own; they are the server's log, not a case's record, so they are not
chained.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "server_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("client", sa.String(100), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_server_events"),
    )
    op.create_index("ix_server_events_at", "server_events", ["at"])
    op.create_index("ix_server_events_actor", "server_events", ["actor"])


def downgrade() -> None:
    op.drop_table("server_events")

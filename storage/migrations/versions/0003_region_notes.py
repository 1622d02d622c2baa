"""Regions carry the analyst's note on each version (why it was confirmed,
rejected or judged not relevant; a deletion's reason).  The new status
"not-relevant" needs no schema change: statuses are checked by the store.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("regions") as batch:
        batch.add_column(sa.Column("note", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("regions") as batch:
        batch.drop_column("note")

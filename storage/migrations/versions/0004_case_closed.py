"""A case with a final verdict is closed.  From this revision on the store
closes a case when the analyst gives a final verdict (and reopens it when the
verdict is cleared); cases concluded before that are closed here, each with
its own audit event signed by this migration, so the record says who changed
the status and why.  No schema change: "closed" was always a valid status.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from storage.tables import UtcDateTime, utc_now

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ACTOR = "migration 0004"
REASON = "the case has a final verdict: a concluded case is closed"

# Lightweight tables (only the columns used), so later schema changes cannot alter this migration.
_cases = sa.table("cases", sa.column("id", sa.Integer()), sa.column("status", sa.String(20)),
                  sa.column("final_verdict", sa.String(20)))
_audit = sa.table("audit_events", sa.column("case_id", sa.Integer()), sa.column("actor", sa.String(200)),
                  sa.column("action", sa.String(50)), sa.column("subject", sa.String(100)),
                  sa.column("before", sa.JSON()), sa.column("after", sa.JSON()), sa.column("at", UtcDateTime()))


def upgrade() -> None:
    connection = op.get_bind()
    concluded = connection.execute(
        sa.select(_cases.c.id, _cases.c.status)
        .where(_cases.c.final_verdict.is_not(None), _cases.c.status != "closed").order_by(_cases.c.id)).all()
    if not concluded:
        return
    now = utc_now()
    connection.execute(_audit.insert(), [
        {"case_id": case_id, "actor": ACTOR, "action": "case-updated", "subject": f"case:{case_id}",
         "before": {"status": status}, "after": {"status": "closed", "reason": REASON}, "at": now}
        for case_id, status in concluded])
    connection.execute(_cases.update().where(_cases.c.id.in_([case_id for case_id, _ in concluded]))
                       .values(status="closed"))


def downgrade() -> None:
    # Nothing to undo in the schema; "closed" is valid at 0003 too, and the audit log keeps what happened.
    pass

"""The tamper-evident case record: chain columns on every record of a case
(storage/chain.py), the chain head on cases and reports, and the chain
computed once for the records already stored.

Existing records are chained in the order they happened (by their
timestamps), each case gets an audit event signed 'migration 0005' saying
so, and that event is the chain's newest link.  The chain vouches for the
records as they were found at this migration, not for anything before it;
the audit event says that too.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from storage.chain import CHAINED_COLUMNS, genesis, link_hash
from storage.tables import Base, utc_now

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ACTOR = "migration 0005"
ACTION = "case-chained"
CHAIN_COLUMNS = ("chain_seq", "chain_prev", "chain_hash")
# When each kind of record happened, to chain old records in the order they were made.
_WHEN = {"evidence_files": "intake_at", "analyses": "finished_at", "regions": "created_at",
         "region_questions": "asked_at", "audit_events": "at"}


def _table(name: str, *extra: str) -> sa.TableClause:
    """A lightweight copy (types from the ORM, only these columns), so later schema changes
    cannot alter this migration."""
    columns = Base.metadata.tables[name].c
    names = ("id", *CHAINED_COLUMNS.get(name, ()), *extra)
    return sa.table(name, *[sa.column(n, columns[n].type) for n in dict.fromkeys(names)])


def upgrade() -> None:
    for name in CHAINED_COLUMNS:
        with op.batch_alter_table(name) as batch:
            batch.add_column(sa.Column("chain_seq", sa.Integer(), nullable=True))
            batch.add_column(sa.Column("chain_prev", sa.String(64), nullable=True))
            batch.add_column(sa.Column("chain_hash", sa.String(64), nullable=True))
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("chain_head", sa.String(64), nullable=True))
        batch.add_column(sa.Column("chain_length", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("chain_head", sa.String(64), nullable=True))
    _chain_existing_records(op.get_bind())


def _chain_existing_records(connection: sa.Connection) -> None:
    cases = sa.table("cases", sa.column("id", sa.Integer()), sa.column("uid", sa.String(32)),
                     sa.column("chain_head", sa.String(64)), sa.column("chain_length", sa.Integer()))
    case_ids = connection.execute(sa.select(cases.c.id, cases.c.uid).order_by(cases.c.id)).all()
    if not case_ids:
        return
    analyses = _table("analyses", *CHAIN_COLUMNS)
    analysis_case = dict(connection.execute(sa.select(analyses.c.id, analyses.c.case_id)).all())
    regions = _table("regions", *CHAIN_COLUMNS)
    region_case = {rid: analysis_case[aid] for rid, aid in
                   connection.execute(sa.select(regions.c.id, regions.c.analysis_id)).all()}
    records: dict[int, list[tuple]] = {case_id: [] for case_id, _ in case_ids}
    for rank, name in enumerate(CHAINED_COLUMNS):
        table = _table(name, *CHAIN_COLUMNS)
        query = sa.select(table)
        if name == "analyses":
            query = query.where(table.c.status != "running")
        for row in connection.execute(query.order_by(table.c.id)).mappings():
            values = dict(row)
            if name == "regions":
                case_id = analysis_case[values["analysis_id"]]
            elif name == "region_questions":
                case_id = region_case[values["region_id"]]
            else:
                case_id = values["case_id"]
            when = values[_WHEN[name]] or values.get("started_at")
            records[case_id].append((when, rank, values["id"], name, values))
    reports = sa.table("reports", sa.column("id", sa.Integer()), sa.column("case_id", sa.Integer()),
                       sa.column("created_at", Base.metadata.tables["reports"].c.created_at.type),
                       sa.column("chain_head", sa.String(64)))
    report_times: dict[int, list[tuple]] = {}
    for report_id, case_id, created_at in connection.execute(
            sa.select(reports.c.id, reports.c.case_id, reports.c.created_at).order_by(reports.c.created_at)):
        report_times.setdefault(case_id, []).append((created_at, report_id))
    audit = _table("audit_events", *CHAIN_COLUMNS)
    now = utc_now()
    for case_id, uid in case_ids:
        if not records[case_id]:
            continue  # nothing stored yet: the case's first record will start its chain
        head, seq = genesis(uid), 0
        pending_reports = list(report_times.get(case_id, []))
        for when, _, record_id, name, values in sorted(records[case_id], key=lambda r: r[:3]):
            while pending_reports and pending_reports[0][0] < when:
                connection.execute(reports.update().where(reports.c.id == pending_reports.pop(0)[1])
                                   .values(chain_head=head))
            seq += 1
            linked = link_hash(head, name, seq, values)
            table = _table(name, *CHAIN_COLUMNS)
            connection.execute(table.update().where(table.c.id == record_id)
                               .values(chain_seq=seq, chain_prev=head, chain_hash=linked))
            head = linked
        for _, report_id in pending_reports:
            connection.execute(reports.update().where(reports.c.id == report_id).values(chain_head=head))
        event = {"case_id": case_id, "actor": ACTOR, "action": ACTION, "subject": f"case:{case_id}",
                 "before": None, "after": {
                     "links": seq + 1, "reason": "the case record is chained by hashes from here on; the "
                     "records stored before this migration were chained as they were found, in the order "
                     "they were made, so the chain vouches for them from this moment only"}, "at": now}
        seq += 1
        linked = link_hash(head, "audit_events", seq, event)
        connection.execute(audit.insert().values(**event, chain_seq=seq, chain_prev=head, chain_hash=linked))
        connection.execute(cases.update().where(cases.c.id == case_id).values(chain_head=linked, chain_length=seq))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite >= 3.35, PostgreSQL): a batch copy of the tables would trip the
    # foreign keys that point at them.
    for name in CHAINED_COLUMNS:
        for column in CHAIN_COLUMNS:
            op.drop_column(name, column)
    op.drop_column("cases", "chain_head")
    op.drop_column("cases", "chain_length")
    op.drop_column("reports", "chain_head")

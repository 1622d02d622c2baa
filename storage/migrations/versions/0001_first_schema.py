"""The first case-store schema: cases, evidence files, analyses, regions,
region questions, audit events and reports.

Revision ID: 0001
Revises:
Create Date: 2026-05-20
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _stamp(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(32), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("final_verdict", sa.String(20), nullable=True),
        sa.Column("final_note", sa.Text(), nullable=False),
        sa.Column("model_verdict", sa.String(20), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        _stamp("created_at"),
        _stamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_cases"),
        sa.UniqueConstraint("uid", name="uq_cases_uid"),
    )
    op.create_table(
        "evidence_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("original_name", sa.String(1000), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("format", sa.String(20), nullable=False),
        sa.Column("mime", sa.String(100), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        _stamp("intake_at"),
        sa.Column("intake_by", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_evidence_files_case_id_cases"),
        sa.PrimaryKeyConstraint("id", name="pk_evidence_files"),
        sa.UniqueConstraint("case_id", "sha256", name="uq_evidence_files_case_id_sha256"),
    )
    op.create_table(
        "analyses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("evidence_file_id", sa.Integer(), nullable=False),
        sa.Column("backend", sa.String(100), nullable=False),
        sa.Column("backend_version", sa.String(300), nullable=False),
        sa.Column("model_id", sa.String(300), nullable=False),
        sa.Column("model_revision", sa.String(200), nullable=False),
        sa.Column("quantization", sa.String(50), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("software", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("runner_host", sa.String(255), nullable=False),
        sa.Column("runner_pid", sa.Integer(), nullable=False),
        sa.Column("runner_token", sa.String(32), nullable=False),
        sa.Column("started_by", sa.String(200), nullable=False),
        _stamp("started_at"),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("timings", sa.JSON(), nullable=False),
        sa.Column("verdict", sa.String(20), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("raw_output", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_analyses_case_id_cases"),
        sa.ForeignKeyConstraint(["evidence_file_id"], ["evidence_files.id"],
                                name="fk_analyses_evidence_file_id_evidence_files"),
        sa.PrimaryKeyConstraint("id", name="pk_analyses"),
    )
    op.create_index("ix_analyses_case_id", "analyses", ["case_id"])
    op.create_index("ix_analyses_evidence_file_id", "analyses", ["evidence_file_id"])
    op.create_index("ix_analyses_status", "analyses", ["status"])
    op.create_table(
        "regions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("analysis_id", sa.Integer(), nullable=False),
        sa.Column("parent_region_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("region_key", sa.String(50), nullable=False),
        sa.Column("x1", sa.Float(), nullable=False),
        sa.Column("y1", sa.Float(), nullable=False),
        sa.Column("x2", sa.Float(), nullable=False),
        sa.Column("y2", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("label", sa.String(500), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        _stamp("created_at"),
        sa.ForeignKeyConstraint(["analysis_id"], ["analyses.id"], name="fk_regions_analysis_id_analyses"),
        sa.ForeignKeyConstraint(["parent_region_id"], ["regions.id"], name="fk_regions_parent_region_id_regions"),
        sa.PrimaryKeyConstraint("id", name="pk_regions"),
        sa.UniqueConstraint("parent_region_id", name="uq_regions_parent_region_id"),
    )
    op.create_index("ix_regions_analysis_id", "regions", ["analysis_id"])
    op.create_table(
        "region_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("region_id", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("backend", sa.String(300), nullable=False),
        sa.Column("asked_by", sa.String(200), nullable=False),
        _stamp("asked_at"),
        sa.ForeignKeyConstraint(["region_id"], ["regions.id"], name="fk_region_questions_region_id_regions"),
        sa.PrimaryKeyConstraint("id", name="pk_region_questions"),
    )
    op.create_index("ix_region_questions_region_id", "region_questions", ["region_id"])
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("subject", sa.String(100), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        _stamp("at"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_audit_events_case_id_cases"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_case_id", "audit_events", ["case_id"])
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("analysis_id", sa.Integer(), nullable=True),
        sa.Column("file_name", sa.String(1000), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        _stamp("created_at"),
        sa.ForeignKeyConstraint(["analysis_id"], ["analyses.id"], name="fk_reports_analysis_id_analyses"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_reports_case_id_cases"),
        sa.PrimaryKeyConstraint("id", name="pk_reports"),
    )
    op.create_index("ix_reports_case_id", "reports", ["case_id"])


def downgrade() -> None:
    for table in ("reports", "audit_events", "region_questions", "regions", "analyses", "evidence_files", "cases"):
        op.drop_table(table)

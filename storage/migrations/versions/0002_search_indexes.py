"""Indexes for listing and searching cases: newest first, by verdict, by a
file's SHA-256 prefix, by the analyst who worked on a case.

Revision ID: 0002
Revises: 0001
Create Date: 2026-05-20
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cases_updated_at", "cases", ["updated_at"])
    op.create_index("ix_cases_final_verdict", "cases", ["final_verdict"])
    op.create_index("ix_cases_model_verdict", "cases", ["model_verdict"])
    op.create_index("ix_evidence_files_sha256", "evidence_files", ["sha256"])
    op.create_index("ix_audit_events_actor_case_id", "audit_events", ["actor", "case_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_actor_case_id", table_name="audit_events")
    op.drop_index("ix_evidence_files_sha256", table_name="evidence_files")
    op.drop_index("ix_cases_model_verdict", table_name="cases")
    op.drop_index("ix_cases_final_verdict", table_name="cases")
    op.drop_index("ix_cases_updated_at", table_name="cases")

"""The case store as the newsroom's memory: perceptual hashes of every evidence
file (PDQ of the whole picture and of sub-windows, cut into sixteen indexed
16-bit bands for the near-duplicate index), the hash lists other
organisations share, and a per-case "may be used for training" flag, off
until an analyst releases the case.

The crop-tolerant hash is a set of ORB keypoint descriptors (256 bits each,
banded the same way) with the keypoint's position, for a geometric check.

Existing evidence files get their hashes from `zoomin cases reindex` (it
reads each stored file, which a schema migration should not do); until then
they are simply not found by "seen before".  Hashes are an index derived
from the files, not part of the case record, so they are not chained.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Fixed here (not read from storage.tables), so a later schema cannot alter this migration.
_BANDS = tuple(f"band_{n:02d}" for n in range(16))


def upgrade() -> None:
    # Plain ADD COLUMN (a batch copy of `cases` would trip the foreign keys that point at it).
    op.add_column("cases", sa.Column("training_allowed", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "hash_lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("file_name", sa.String(1000), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("imported_by", sa.String(200), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_hash_lists"),
    )
    op.create_index("ix_hash_lists_source", "hash_lists", ["source"])
    op.create_table(
        "hash_list_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(40), nullable=False),
        sa.Column("label", sa.String(500), nullable=False),
        sa.Column("listed_on", sa.String(40), nullable=False),
        sa.ForeignKeyConstraint(["list_id"], ["hash_lists.id"], name="fk_hash_list_entries_list_id_hash_lists"),
        sa.PrimaryKeyConstraint("id", name="pk_hash_list_entries"),
    )
    op.create_index("ix_hash_list_entries_list_id", "hash_list_entries", ["list_id"])
    op.create_table(
        "perceptual_hashes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("evidence_file_id", sa.Integer(), nullable=True),
        sa.Column("list_entry_id", sa.Integer(), nullable=True),
        sa.Column("algorithm", sa.String(20), nullable=False),
        sa.Column("window", sa.String(20), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("quality", sa.Integer(), nullable=False),
        sa.Column("key_x", sa.Float(), nullable=True),
        sa.Column("key_y", sa.Float(), nullable=True),
        *[sa.Column(band, sa.Integer(), nullable=False) for band in _BANDS],
        sa.ForeignKeyConstraint(["evidence_file_id"], ["evidence_files.id"],
                                name="fk_perceptual_hashes_evidence_file_id_evidence_files"),
        sa.ForeignKeyConstraint(["list_entry_id"], ["hash_list_entries.id"],
                                name="fk_perceptual_hashes_list_entry_id_hash_list_entries"),
        sa.PrimaryKeyConstraint("id", name="pk_perceptual_hashes"),
    )
    op.create_index("ix_perceptual_hashes_evidence_file_id", "perceptual_hashes", ["evidence_file_id"])
    op.create_index("ix_perceptual_hashes_list_entry_id", "perceptual_hashes", ["list_entry_id"])
    for band in _BANDS:
        op.create_index(f"ix_perceptual_hashes_{band}", "perceptual_hashes", [band])


def downgrade() -> None:
    op.drop_table("perceptual_hashes")
    op.drop_table("hash_list_entries")
    op.drop_table("hash_lists")
    op.drop_column("cases", "training_allowed")

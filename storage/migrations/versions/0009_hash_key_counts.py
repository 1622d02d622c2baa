"""The keypoint index for a store of real pictures (storage/hash_keys.py, storage/similarity.py):

- hash_key_counts holds, for every 32-bit key (bands 2k and 2k+1 at key position k) of the
  stored keypoint descriptors, how many carry it, so a lookup skips the generic keys that
  real corners share.  The counts of the hashes already stored are computed here.
- The eight key indexes (algorithm, band_2k, band_2k+1) also hold the rows' owners
  (evidence_file_id, list_entry_id), so a lookup's shortlist of stored pictures is read
  from the index alone.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Fixed here (not read from storage.tables), so a later schema cannot alter this migration.
_BANDS = tuple(f"band_{n:02d}" for n in range(16))


def upgrade() -> None:
    op.create_table(
        "hash_key_counts",
        sa.Column("algorithm", sa.String(20), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("band_a", sa.Integer(), nullable=False),
        sa.Column("band_b", sa.Integer(), nullable=False),
        sa.Column("descriptors", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("algorithm", "position", "band_a", "band_b", name="pk_hash_key_counts"),
        sqlite_with_rowid=False,
    )
    for k in range(8):
        first, second = _BANDS[2 * k], _BANDS[2 * k + 1]
        op.execute(f"INSERT INTO hash_key_counts (algorithm, position, band_a, band_b, descriptors) "
                   f"SELECT algorithm, {k}, {first}, {second}, COUNT(*) FROM perceptual_hashes "
                   f"WHERE algorithm = 'orb' GROUP BY algorithm, {first}, {second}")
    for k in range(0, 16, 2):
        name = f"ix_perceptual_hashes_pair_{k:02d}_{k + 1:02d}"
        op.drop_index(name, table_name="perceptual_hashes")
        op.create_index(name, "perceptual_hashes",
                        ["algorithm", _BANDS[k], _BANDS[k + 1], "evidence_file_id", "list_entry_id"])


def downgrade() -> None:
    for k in range(0, 16, 2):
        name = f"ix_perceptual_hashes_pair_{k:02d}_{k + 1:02d}"
        op.drop_index(name, table_name="perceptual_hashes")
        op.create_index(name, "perceptual_hashes", ["algorithm", _BANDS[k], _BANDS[k + 1]])
    op.drop_table("hash_key_counts")

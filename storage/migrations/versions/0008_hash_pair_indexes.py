"""The perceptual-hash index rebuilt for a million hashes: the sixteen
one-band indexes (band_NN) become sixteen (algorithm, band_a, band_b)
indexes, a and b two neighbouring bands in either order.

With one-band indexes, a keypoint lookup at 1,000,000 stored hashes fetched
about fifteen rows per 16-bit band value, some 15,000 rows for 64 keypoint
descriptors (209 ms median).  Now a keypoint descriptor is looked up by its
eight 32-bit keys (two neighbouring bands, both equal), which random rows
almost never share, and a PDQ lookup by its sixteen single bands (the index
prefix) among PDQ rows only, no longer stepping over the keypoint rows.
The columns are unchanged; only indexes are dropped and created.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Fixed here (not read from storage.tables), so a later schema cannot alter this migration.
_BANDS = tuple(f"band_{n:02d}" for n in range(16))
_PAIRS = tuple(pair for k in range(0, 16, 2) for pair in ((k, k + 1), (k + 1, k)))


def upgrade() -> None:
    for band in _BANDS:
        op.drop_index(f"ix_perceptual_hashes_{band}", table_name="perceptual_hashes")
    for first, second in _PAIRS:
        op.create_index(f"ix_perceptual_hashes_pair_{first:02d}_{second:02d}", "perceptual_hashes",
                        ["algorithm", _BANDS[first], _BANDS[second]])


def downgrade() -> None:
    for first, second in _PAIRS:
        op.drop_index(f"ix_perceptual_hashes_pair_{first:02d}_{second:02d}", table_name="perceptual_hashes")
    for band in _BANDS:
        op.create_index(f"ix_perceptual_hashes_{band}", "perceptual_hashes", [band])

"""The stop list of the keypoint index: how many stored descriptors carry each 32-bit key,
and which keys a lookup skips because too many do.

A keypoint descriptor is looked up by its eight 32-bit keys (storage/similarity.py).  Random
descriptors almost never share one, but real corners do: in the dev pictures one key in
twenty descriptors is the same generic corner, and a store of 1,000 pictures gave every
lookup ~1,000 candidate rows of every stored picture (1.6 s a lookup at 65,000 hashes,
benchmarks/bench_memory.py --fill pictures).  A key held by more than `common_limit` rows says
nothing about which picture it came from, as a stop word says nothing about a document; a
true copy's descriptor still shares its other keys.  The counts live in hash_key_counts,
changed in the same transaction as the rows they count."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.tables import BAND_COLUMNS, HashKeyCountRow, PerceptualHashRow

# The algorithms looked up by 32-bit keys (similarity.key_votes); PDQ is looked up by single bands.
KEYED = ("orb",)
KEY_POSITIONS = len(BAND_COLUMNS) // 2
# A key is common when more rows than this carry it: a floor, so a small store (and a picture
# stored a few dozen times, as a viral one is) keeps every key, and a share of the store, so the
# limit grows with it rather than dropping ever more keys of a true copy.
COMMON_FLOOR = 64
COMMON_SHARE = 1 / 20_000


Key = tuple[str, int, int, int]  # (algorithm, position, band 2k, band 2k+1)


def keys_of(algorithm: str, band_values: Iterable[tuple[int, ...]]) -> Counter[Key]:
    """The keys of these rows' band values (hash_row's), counted."""
    counted: Counter[Key] = Counter()
    if algorithm in KEYED:
        for split in band_values:
            counted.update((algorithm, k, split[2 * k], split[2 * k + 1]) for k in range(KEY_POSITIONS))
    return counted


def add(session: Session, counted: Counter[Key], sign: int = 1) -> None:
    """Add (sign -1: take away) these key counts, one upsert for all of them."""
    if not counted:
        return
    table = HashKeyCountRow.__table__
    # In key order, so two writers on PostgreSQL lock the rows they share in the same order.
    values = [{"algorithm": a, "position": k, "band_a": x, "band_b": y, "descriptors": sign * n}
              for (a, k, x, y), n in sorted(counted.items())]
    dialect = session.get_bind().dialect.name
    if dialect not in ("sqlite", "postgresql"):
        raise NotImplementedError(f"key counts need an upsert; {dialect} is not supported")
    insert = (sqlite if dialect == "sqlite" else postgresql).insert(table)
    statement = insert.on_conflict_do_update(index_elements=["algorithm", "position", "band_a", "band_b"],
                                             set_={"descriptors": table.c.descriptors + insert.excluded.descriptors})
    session.execute(statement, values)  # executemany
    if sign < 0:   # a key no stored descriptor carries any more: its row goes (by its primary key)
        session.execute(table.delete().where(
            table.c.algorithm == bindparam("a"), table.c.position == bindparam("k"), table.c.band_a == bindparam("x"),
            table.c.band_b == bindparam("y"), table.c.descriptors <= 0),
            [{"a": v["algorithm"], "k": v["position"], "x": v["band_a"], "y": v["band_b"]} for v in values])


def rows_counted(rows: Iterable[dict]) -> Counter[Key]:
    """The keys of hash_row() dicts."""
    counted: Counter[Key] = Counter()
    for row in rows:
        counted.update(keys_of(row["algorithm"], [tuple(row[band] for band in BAND_COLUMNS)]))
    return counted


def common_limit(session: Session) -> int:
    """The most rows a key may be carried by and still be looked up."""
    stored = session.execute(select(func.max(PerceptualHashRow.id))).scalar() or 0
    return max(COMMON_FLOOR, int(stored * COMMON_SHARE))


def rebuild(session: Session) -> None:
    """Count every stored key again from perceptual_hashes (after a bulk load that bypassed
    the counting writes; the migration that added the counts does the same)."""
    session.execute(HashKeyCountRow.__table__.delete())
    for k in range(KEY_POSITIONS):
        first, second = BAND_COLUMNS[2 * k], BAND_COLUMNS[2 * k + 1]
        # Column names from BAND_COLUMNS, never from input.
        session.execute(text(
            f"INSERT INTO hash_key_counts (algorithm, position, band_a, band_b, descriptors) "
            f"SELECT algorithm, {k}, {first}, {second}, COUNT(*) FROM perceptual_hashes "
            f"WHERE algorithm IN ({', '.join(repr(a) for a in KEYED)}) GROUP BY algorithm, {first}, {second}"))

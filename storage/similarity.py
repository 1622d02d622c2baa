"""The perceptual-hash index (multi-index hashing): every 256-bit hash is stored with its
sixteen 16-bit bands in integer columns, indexed as (algorithm, band_a, band_b) for each
pair of neighbouring bands in either order (migration 0008).

- PDQ (`candidates`): the rows of the algorithm sharing at least one 16-bit band exactly
  with a looked-up hash (the index prefix).  Two hashes within 15 bits always share a
  band (pigeonhole); further apart they usually still do (a PDQ pair 25 bits apart shares
  one with probability about 0.95).
- Keypoint descriptors (`pair_candidates`): the rows sharing at least one whole 32-bit
  key (an even band and the next one, both equal), one index probe per key.  Within 7 bits always (pigeonhole);
  a corner's descriptor in a re-compressed or resized copy usually still does.  At a
  million stored hashes a 16-bit band value is shared by ~15 random rows, a 32-bit key by
  almost none, so a lookup touches the true matches and few others.
The caller checks the exact Hamming distance; the benchmark measures recall end to end."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from functools import lru_cache

from sqlalchemy import bindparam, insert, select, text, union_all
from sqlalchemy.orm import Session

from models.similarity.hashes import PDQ, ImageHash, bands
from storage.cases import _conclusion as conclusion  # the audit event that concluded a case
from storage.memory_records import ListedImage, StoredHash, StoredImage
from storage.tables import (
    BAND_COLUMNS,
    CaseRow,
    EvidenceFileRow,
    HashListEntryRow,
    HashListRow,
    PerceptualHashRow,
)

# SQLite takes at most 32,766 bound values per statement; a lookup stays far below.
_INSERT_CHUNK = 2000


def hash_row(image_hash: ImageHash, *, evidence_file_id: int | None = None,
             list_entry_id: int | None = None) -> dict:
    row = {"evidence_file_id": evidence_file_id, "list_entry_id": list_entry_id,
           "algorithm": image_hash.algorithm, "window": image_hash.window, "hash": image_hash.hex,
           "quality": image_hash.quality, "key_x": image_hash.key_x, "key_y": image_hash.key_y}
    row.update(zip(BAND_COLUMNS, bands(image_hash.hex)))
    return row


def insert_hashes(session: Session, rows: Sequence[dict]) -> None:
    """Bulk insert (executemany) of hash_row() dicts."""
    for start in range(0, len(rows), _INSERT_CHUNK):
        session.execute(insert(PerceptualHashRow), list(rows[start:start + _INSERT_CHUNK]))


def replace_evidence_hashes(session: Session, evidence_file_id: int, hashes: Iterable[ImageHash]) -> None:
    session.query(PerceptualHashRow).filter(PerceptualHashRow.evidence_file_id == evidence_file_id).delete()
    insert_hashes(session, [hash_row(h, evidence_file_id=evidence_file_id) for h in hashes])


def candidates(session: Session, algorithm: str, hexes: Sequence[str]) -> list[StoredHash]:
    """Stored hashes of `algorithm` sharing at least one 16-bit band with any of `hexes`."""
    if not hexes:
        return []
    split = [bands(h) for h in hexes]
    values = {f"band_values_{i}": sorted({b[i] for b in split}) for i in range(len(BAND_COLUMNS))}
    return _distinct(session.execute(_band_query(), {"algorithm": algorithm, **values}))


def pair_candidates(session: Session, algorithm: str, hexes: Sequence[str]) -> list[StoredHash]:
    """Stored hashes of `algorithm` sharing at least one 32-bit key (bands 2k and 2k+1, both
    equal) with any of `hexes`.  Per even band k the looked-up keys are a VALUES list joined to
    the (algorithm, band_k, band_k+1) index: one index probe per key, exact.  (Two INs, one per
    band, probed every combination, 4,096 per pair for 64 descriptors: ~0.5 s on PostgreSQL.)"""
    found: dict[int, StoredHash] = {}
    if hexes and session.get_bind().dialect.name == "postgresql":
        # Eight small nested loops: PostgreSQL's cost guess launched two parallel workers for
        # them, ~50 ms of start-up for a query of a few milliseconds.  For this transaction only.
        session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    connection = session.connection()
    marker = ":{}" if connection.dialect.paramstyle in ("named", "qmark") else "%({})s"
    # Straight to the driver's cursor, in the session's transaction: compiling a fresh 1,000-value
    # statement cost more than running it, and SQLAlchemy's row objects for the ~1,000 rows a
    # lookup of a real picture fetches cost ~10 ms more than the driver's tuples.
    cursor = connection.connection.cursor()
    try:
        for start in range(0, len(hexes), _PAIR_CHUNK):
            statement, values = _pair_statement(algorithm, [bands(h) for h in hexes[start:start + _PAIR_CHUNK]],
                                                marker)
            cursor.execute(statement, values)
            for row in cursor.fetchall():
                found.setdefault(row[0], StoredHash(*row))
    finally:
        cursor.close()
    return list(found.values())


# Looked-up hashes per statement: 8 keys of 2 values each, well under SQLite's 32,766 bound values.
_PAIR_CHUNK = 1000


def _pair_statement(algorithm: str, split: list[tuple[int, ...]], marker: str) -> tuple[str, dict]:
    """The statement (the driver's placeholders, `marker`) and its values; the column names
    come from BAND_COLUMNS, never from input."""
    values: dict[str, object] = {"algorithm": algorithm}
    parts = []
    for k in range(0, len(BAND_COLUMNS), 2):
        keys = sorted({(b[k], b[k + 1]) for b in split})
        for n, (first, second) in enumerate(keys):
            values[f"k{k}_{n}a"], values[f"k{k}_{n}b"] = first, second
        listed = ", ".join(f"({marker.format(f'k{k}_{n}a')}, {marker.format(f'k{k}_{n}b')})" for n in range(len(keys)))
        # VALUES columns are column1, column2 in both SQLite and PostgreSQL.
        parts.append(f"SELECT p.id, p.evidence_file_id, p.list_entry_id, p.algorithm, p.hash, p.key_x, p.key_y "
                     f"FROM (VALUES {listed}) AS k{k} JOIN perceptual_hashes AS p ON p.algorithm = "
                     f"{marker.format('algorithm')} AND p.{BAND_COLUMNS[k]} = k{k}.column1 "
                     f"AND p.{BAND_COLUMNS[k + 1]} = k{k}.column2")
    return " UNION ALL ".join(parts), values


def _distinct(result) -> list[StoredHash]:
    found: dict[int, StoredHash] = {}
    for row in result:
        found.setdefault(row[0], StoredHash(*row))
    return list(found.values())


def _columns():
    table = PerceptualHashRow.__table__
    return table, (table.c.id, table.c.evidence_file_id, table.c.list_entry_id, table.c.algorithm, table.c.hash,
                   table.c.key_x, table.c.key_y)


def _values(i: int):
    return bindparam(f"band_values_{i}", expanding=True)


@lru_cache(maxsize=1)
def _band_query():
    """One statement (built once, compiled once): per band an indexed IN, all bands UNION ALL."""
    table, columns = _columns()
    return union_all(*[select(*columns).where(table.c.algorithm == bindparam("algorithm"),
                                              table.c[name].in_(_values(i)))
                       for i, name in enumerate(BAND_COLUMNS)])


def stored_images(session: Session, evidence_file_ids: Iterable[int]) -> dict[int, StoredImage]:
    wanted = sorted(set(evidence_file_ids))
    if not wanted:
        return {}
    images: dict[int, StoredImage] = {}
    query = select(EvidenceFileRow, CaseRow).join(CaseRow, CaseRow.id == EvidenceFileRow.case_id) \
        .where(EvidenceFileRow.id.in_(wanted))
    for file, case in session.execute(query):
        concluded = conclusion(session, case) if case.final_verdict else None
        images[file.id] = StoredImage(
            evidence_file_id=file.id, case_id=case.id, case_title=case.title, file_name=file.original_name,
            sha256=file.sha256, width=file.width, height=file.height, final_verdict=case.final_verdict,
            concluded_by=concluded.actor if concluded else "", concluded_at=concluded.at if concluded else None)
    return images


def listed_images(session: Session, list_entry_ids: Iterable[int]) -> dict[int, ListedImage]:
    wanted = sorted(set(list_entry_ids))
    if not wanted:
        return {}
    query = select(HashListEntryRow, HashListRow.source).join(HashListRow, HashListRow.id == HashListEntryRow.list_id) \
        .where(HashListEntryRow.id.in_(wanted))
    return {entry.id: ListedImage(entry.id, source, entry.line, entry.verdict, entry.label, entry.listed_on)
            for entry, source in session.execute(query)}


def pdq_of(session: Session, evidence_file_ids: Iterable[int]) -> dict[int, str]:
    """The whole-picture PDQ hash of each of these evidence files."""
    wanted = sorted(set(evidence_file_ids))
    if not wanted:
        return {}
    # By the files' own rows only (~65 each), the algorithm checked here: with `algorithm = 'pdq'`
    # in the WHERE, SQLite could choose an (algorithm, band) index instead and walk every PDQ row
    # in the store (it did in the 1M bench, ~70 ms on each lookup that found a keypoint match).
    rows = session.execute(select(PerceptualHashRow.evidence_file_id, PerceptualHashRow.algorithm,
                                  PerceptualHashRow.hash).where(PerceptualHashRow.evidence_file_id.in_(wanted)))
    return {file_id: hex_digits for file_id, algorithm, hex_digits in rows if algorithm == PDQ}


def evidence_files_by_sha(session: Session, sha256: str) -> list[int]:
    return list(session.scalars(select(EvidenceFileRow.id).where(EvidenceFileRow.sha256 == sha256)))


def unhashed_evidence(session: Session) -> list[tuple[int, str]]:
    """(evidence file id, SHA-256) of every file with no hash in the index yet."""
    hashed = select(PerceptualHashRow.evidence_file_id).where(PerceptualHashRow.evidence_file_id.is_not(None))
    return [(row.id, row.sha256) for row in session.execute(
        select(EvidenceFileRow.id, EvidenceFileRow.sha256).where(EvidenceFileRow.id.not_in(hashed))
        .order_by(EvidenceFileRow.id))]

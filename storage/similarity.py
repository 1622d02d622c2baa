"""The perceptual-hash index (multi-index hashing): every 256-bit hash is stored with its
sixteen 16-bit bands in integer columns, indexed as (algorithm, band_a, band_b) for each
pair of neighbouring bands in either order (migrations 0008, 0009).

- PDQ (`candidates`): the rows of the algorithm sharing at least one 16-bit band exactly
  with a looked-up hash (the index prefix).  Two hashes within 15 bits always share a
  band (pigeonhole); further apart they usually still do (a PDQ pair 25 bits apart shares
  one with probability about 0.95).
- Keypoint descriptors (`key_votes`): per stored picture, its descriptors sharing at least
  one telling 32-bit key (an even band and the next one, both equal; within 7 bits always,
  by pigeonhole) and their IDF weight, one index probe per key.  Keys that too many stored
  descriptors carry are skipped (storage/hash_keys.py: real corners share generic keys
  that random hashes never do), and the key indexes hold the owners (migration 0009), so
  no row is read.  `rows_of_owners` then gives every descriptor of the shortlisted pictures.
The caller checks the exact Hamming distances and the geometry; the benchmark measures recall
end to end."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from functools import lru_cache

from sqlalchemy import bindparam, insert, select, text, union_all
from sqlalchemy.orm import Session

from models.similarity.hashes import PDQ, ImageHash, bands
from models.similarity.matching import KeyVotes, Owner
from storage import hash_keys
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
    """Bulk insert (executemany) of hash_row() dicts, and their keys counted (hash_keys)."""
    for start in range(0, len(rows), _INSERT_CHUNK):
        session.execute(insert(PerceptualHashRow), list(rows[start:start + _INSERT_CHUNK]))
    hash_keys.add(session, hash_keys.rows_counted(rows))


def replace_evidence_hashes(session: Session, evidence_file_id: int, hashes: Iterable[ImageHash]) -> None:
    table = PerceptualHashRow.__table__
    mine = table.c.evidence_file_id == evidence_file_id
    gone = session.execute(select(table.c.algorithm, *[table.c[b] for b in BAND_COLUMNS]).where(mine)).mappings()
    hash_keys.add(session, hash_keys.rows_counted(gone), sign=-1)
    session.execute(table.delete().where(mine))
    insert_hashes(session, [hash_row(h, evidence_file_id=evidence_file_id) for h in hashes])


def candidates(session: Session, algorithm: str, hexes: Sequence[str]) -> list[StoredHash]:
    """Stored hashes of `algorithm` sharing at least one 16-bit band with any of `hexes`."""
    if not hexes:
        return []
    split = [bands(h) for h in hexes]
    values = {f"band_values_{i}": sorted({b[i] for b in split}) for i in range(len(BAND_COLUMNS))}
    return _distinct(session.execute(_band_query(), {"algorithm": algorithm, **values}))


def key_votes(session: Session, algorithm: str, hexes: Sequence[str], votes: int = 1) -> dict[Owner, KeyVotes]:
    """For each owner (("evidence", id) or ("list", id)), how many of its stored descriptors of
    `algorithm` share at least one telling 32-bit key (bands 2k and 2k+1, both equal) with any
    of `hexes`, and the weight of the keys shared (each shared key of each row 1 / the number
    of descriptors carrying it: matching.KeyVotes); owners with fewer than `votes` descriptors
    are left out.

    Per even band k the looked-up keys are a VALUES list joined first to hash_key_counts (its
    primary key), where a key carried by more than hash_keys.common_limit stored descriptors
    stops (the stop list: it says nothing about which picture it came from), then to the
    (algorithm, band_k, band_k+1, owners) index, which holds the owners too, so the rows
    themselves are never read, and SQL counts them.  (Two INs, one per band, probed every
    combination, 4,096 per pair for 64 descriptors: ~0.5 s on PostgreSQL; reading each row, and
    counting ~4,000 of them in Python, cost ~25 ms of a lookup at a million real descriptors.)"""
    if not hexes:
        return {}
    if len(hexes) > MAX_KEYED_QUERY:
        raise ValueError(f"at most {MAX_KEYED_QUERY} descriptors per lookup, not {len(hexes)}")
    limit = hash_keys.common_limit(session)
    if session.get_bind().dialect.name == "postgresql":
        # For this transaction only.  Eight small nested loops: PostgreSQL's cost guess launched
        # two parallel workers for them, ~50 ms of start-up for a query of a few milliseconds.
        # And the joins in the order written (keys, their counts, then the hashes): guessing one
        # row everywhere, it probed the hashes first and fetched every row of a generic key
        # before its count stopped it (3.3 s a lookup at a million real descriptors).
        session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
        session.execute(text("SET LOCAL join_collapse_limit = 1"))
    connection = session.connection()
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    shared, values = _pair_statement(algorithm, [bands(h) for h in hexes], marker, limit)
    statement = (f"SELECT evidence_file_id, list_entry_id, COUNT(DISTINCT id), SUM(1.0 / carried) "
                 f"FROM ({shared}) AS shared GROUP BY evidence_file_id, list_entry_id "
                 f"HAVING COUNT(DISTINCT id) >= {marker}")
    # Straight to the driver's cursor, in the session's transaction: compiling a fresh 1,000-value
    # statement cost more than running it.
    cursor = connection.connection.cursor()
    try:
        cursor.execute(statement, [*values, votes])
        rows = cursor.fetchall()
    finally:
        cursor.close()
    found: dict[Owner, KeyVotes] = {}
    for file_id, entry_id, count, weight in rows:
        if file_id is not None:
            found[("evidence", file_id)] = KeyVotes(count, float(weight))
        elif entry_id is not None:
            found[("list", entry_id)] = KeyVotes(count, float(weight))
    return found


# Descriptors per lookup (a picture's 64 corners, twice where it sits in padding): 8 keys of 2
# values each, well under SQLite's 32,766 bound values.
MAX_KEYED_QUERY = 1000


def rows_of_owners(session: Session, algorithm: str, owners: Iterable[Owner]) -> list[StoredHash]:
    """Every stored hash of `algorithm` of these owners (("evidence", id) or ("list", id)), by
    the owners' own indexes: a picture's rows were written together, so they lie together."""
    table, columns = _columns()
    files = sorted({i for kind, i in owners if kind == "evidence"})
    entries = sorted({i for kind, i in owners if kind == "list"})
    found: list[StoredHash] = []
    # No ORDER BY and no algorithm in the WHERE: with either, SQLite could walk the whole table
    # in id order (or an (algorithm, band) index) instead of the owners' index: ~97 ms a lookup
    # at a million hashes against ~1 ms.  Sorted here, so matching sees the same order each time.
    for column, wanted in ((table.c.evidence_file_id, files), (table.c.list_entry_id, entries)):
        if wanted:
            found += [StoredHash(*row) for row in session.execute(select(*columns).where(column.in_(wanted)))
                      if row[3] == algorithm]
    return sorted(found, key=lambda row: row.row_id)


def _pair_statement(algorithm: str, split: list[tuple[int, ...]], marker: str, limit: int) -> tuple[str, list]:
    """The statement (the driver's positional placeholder, `marker`) and its values; the
    column names come from BAND_COLUMNS, never from input.  Each key is probed in
    hash_key_counts first (its primary key) and only a key carried by at most `limit` rows
    goes on to perceptual_hashes.  Positional: binding ~1,000 named values cost SQLite ~5 ms
    more a lookup."""
    values: list = []
    parts = []
    for k in range(0, len(BAND_COLUMNS), 2):
        keys = sorted({(b[k], b[k + 1]) for b in split})
        for pair in keys:
            values += pair
        values += [algorithm, limit, algorithm]   # in the order the placeholders appear below
        listed = ", ".join(f"({marker}, {marker})" for _ in keys)
        # VALUES columns are column1, column2 in both SQLite and PostgreSQL.
        parts.append(f"SELECT p.id, p.evidence_file_id, p.list_entry_id, c{k}.descriptors AS carried "
                     f"FROM (VALUES {listed}) AS k{k} JOIN hash_key_counts AS c{k} ON c{k}.algorithm = {marker} "
                     f"AND c{k}.position = {k // 2} AND c{k}.band_a = k{k}.column1 AND c{k}.band_b = k{k}.column2 "
                     f"AND c{k}.descriptors <= {marker} JOIN perceptual_hashes AS p ON p.algorithm = {marker} "
                     f"AND p.{BAND_COLUMNS[k]} = k{k}.column1 AND p.{BAND_COLUMNS[k + 1]} = k{k}.column2")
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

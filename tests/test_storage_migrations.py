"""Alembic migrations: from the first revision to head with data kept, the
migrated schema equal to the ORM's, and a newer database refused."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from storage import CaseStore, StoreError, migrate
from storage.config import data_home
from storage.config import database_url as resolve_url
from storage.database import Database
from storage.tables import Base
from tests.storage_backends import BACKENDS, database_for, png_bytes
from tests.storage_backends import store_environment  # noqa: F401  (autouse fixture)


@pytest.fixture(params=BACKENDS)
def database_url(request):
    yield from database_for(request.param)


def open_database(tmp_path, url):
    home = data_home(tmp_path / "home")
    home.mkdir(parents=True, exist_ok=True)
    return Database(resolve_url(home, url))


def test_upgrade_from_the_first_revision_to_head_keeps_the_data(tmp_path, database_url):
    db = open_database(tmp_path, database_url)
    revisions = migrate.known_revisions()
    assert revisions[0] == "0001" and revisions[-1] == migrate.head_revision() and len(revisions) >= 2
    migrate.upgrade(db, revisions[0])
    assert migrate.current_revision(db) == "0001"
    assert "ix_cases_updated_at" not in {ix["name"] for ix in inspect(db.engine).get_indexes("cases")}
    with db.engine.begin() as connection:  # a case written by the first schema's code
        connection.execute(text(
            "INSERT INTO cases (uid, title, notes, status, final_note, created_by, created_at, updated_at) "
            "VALUES ('u1', 'written at revision 0001', '', 'open', '', 'alice', :now, :now)"),
            {"now": "2026-01-02 03:04:05"})

    migrate.upgrade(db)
    assert migrate.current_revision(db) == migrate.head_revision()
    indexes = {ix["name"] for ix in inspect(db.engine).get_indexes("cases")}
    assert {"ix_cases_updated_at", "ix_cases_final_verdict", "ix_cases_model_verdict"} <= indexes
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                       Base.metadata)
    assert differences == [], differences
    db.dispose()

    with CaseStore.open(tmp_path / "home", database_url) as store:
        listed = store.list_cases()
        assert [c.title for c in listed.cases] == ["written at revision 0001"]
        assert listed.cases[0].created_at.year == 2026


def test_opening_upgrades_a_new_database_and_is_idempotent(tmp_path, database_url):
    with CaseStore.open(tmp_path / "home", database_url) as store:
        store.create_case("first", "alice")
    with CaseStore.open(tmp_path / "home", database_url) as store:
        assert store.list_cases().total == 1
    db = open_database(tmp_path, database_url)
    assert migrate.current_revision(db) == migrate.head_revision()
    db.dispose()


def test_a_database_from_a_newer_schema_is_refused_untouched(tmp_path, database_url):
    with CaseStore.open(tmp_path / "home", database_url) as store:
        store.create_case("kept", "alice")
    db = open_database(tmp_path, database_url)
    with db.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'f00d_from_the_future'"))
    with pytest.raises(StoreError) as refused:
        CaseStore.open(tmp_path / "home", database_url)
    assert refused.value.code == "newer-schema"
    assert "newer version of ZoomIn" in str(refused.value)
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == "f00d_from_the_future"
        assert connection.execute(text("SELECT title FROM cases")).scalar() == "kept"
    db.dispose()


def test_sqlite_runs_with_wal_foreign_keys_and_a_busy_timeout(tmp_path):
    with CaseStore.open(tmp_path / "home") as store:
        store.create_case("pragmas", "alice")
    db = open_database(tmp_path, None)
    with db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
    db.dispose()


def test_a_file_that_is_not_a_database_gets_a_clear_error(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "cases.sqlite3").write_bytes(png_bytes(1))
    with pytest.raises(StoreError, match="not a ZoomIn case database"):
        CaseStore.open(home)


def test_migration_0004_closes_concluded_cases_and_signs_the_audit(tmp_path, database_url):
    db = open_database(tmp_path, database_url)
    migrate.upgrade(db, "0003")
    with db.engine.begin() as connection:  # written by code that left concluded cases open
        for uid, verdict, status in (("u1", "ai-generated", "in-review"), ("u2", None, "open"),
                                     ("u3", "real", "closed")):
            connection.execute(text(
                "INSERT INTO cases (uid, title, notes, status, final_verdict, final_note, created_by, created_at, "
                "updated_at) VALUES (:uid, :uid, '', :status, :verdict, '', 'alice', :now, :now)"),
                {"uid": uid, "verdict": verdict, "status": status, "now": "2026-01-02 03:04:05"})
    migrate.upgrade(db, "0004")
    db.dispose()

    with CaseStore.open(tmp_path / "home", database_url) as store:
        cases = {c.title: c for c in store.list_cases().cases}
        assert {t: c.status for t, c in cases.items()} == {"u1": "closed", "u2": "open", "u3": "closed"}
        events = [e for e in store.get_case(cases["u1"].id).history if e.actor != "migration 0005"]
        assert [(e.actor, e.action, e.before, e.after["status"]) for e in events] == [
            ("migration 0004", "case-updated", {"status": "in-review"}, "closed")]
        assert "final verdict" in events[0].after["reason"]
        assert store.get_case(cases["u2"].id).history == () and store.get_case(cases["u3"].id).history == ()


def test_a_final_verdict_closes_the_case_and_clearing_it_reopens_it(tmp_path, database_url):
    with CaseStore.open(tmp_path / "home", database_url) as store:
        case = store.create_case("verdicts", "alice")
        assert store.update_case(case.id, "bob", final_verdict="real").status == "closed"
        assert store.update_case(case.id, "carol", final_verdict=None).status == "open"
        history = store.get_case(case.id).history
        assert [(e.actor, e.before, e.after) for e in history[1:]] == [
            ("bob", {"status": "open", "final_verdict": None}, {"status": "closed", "final_verdict": "real"}),
            ("carol", {"status": "closed", "final_verdict": "real"}, {"status": "open", "final_verdict": None})]
        # An explicit status given with the verdict is the analyst's choice and wins.
        assert store.update_case(case.id, "bob", final_verdict="real", status="in-review").status == "in-review"


def test_migration_0009_counts_the_keys_of_the_hashes_already_stored(tmp_path, database_url):
    db = open_database(tmp_path, database_url)
    migrate.upgrade(db, "0008")
    bands = [f"band_{n:02d}" for n in range(16)]
    stored = [("orb", [1] * 16), ("orb", [1, 1, 2, 2] + [3] * 12), ("orb", [4] * 16), ("pdq", [1] * 16)]
    with db.engine.begin() as connection:  # hashes written before the counts existed
        for algorithm, values in stored:
            connection.execute(text(
                f"INSERT INTO perceptual_hashes (algorithm, \"window\", hash, quality, {', '.join(bands)}) "
                f"VALUES (:algorithm, 'kp', :hash, 80, {', '.join(str(v) for v in values)})"),
                {"algorithm": algorithm, "hash": "0" * 64})
    migrate.upgrade(db, "0009")
    with db.engine.connect() as connection:
        counts = {tuple(row[:4]): row[4] for row in connection.execute(text(
            "SELECT algorithm, position, band_a, band_b, descriptors FROM hash_key_counts"))}
    db.dispose()
    # Position 0 (bands 0 and 1) is (1, 1) in two ORB rows; the PDQ row is never counted.
    assert counts[("orb", 0, 1, 1)] == 2 and counts[("orb", 1, 1, 1)] == 1 and counts[("orb", 1, 2, 2)] == 1
    assert counts[("orb", 7, 3, 3)] == 1 and counts[("orb", 7, 4, 4)] == 1 and counts[("orb", 7, 1, 1)] == 1
    assert {a for a, *_ in counts} == {"orb"} and sum(counts.values()) == 3 * 8

"""The tamper-evident case record: every record chained by hashes, and
`verify` naming the first broken link, orphan stored files and stale
temporary files; migration 0005 chains an existing store once."""

from __future__ import annotations

import json
import os
import time

import pytest
from sqlalchemy import text

from models.types import Box
from storage import BackendInfo, CaseStore, migrate
from storage.blobs import sha256_of_file
from storage.chain import genesis
from tests.storage_backends import BACKENDS, database_for, model_result, png_bytes
from tests.storage_backends import store_environment  # noqa: F401  (autouse fixture)

OLD = time.time() - 3600  # older than any write still in progress


@pytest.fixture(params=BACKENDS)
def database_url(request):
    yield from database_for(request.param)


@pytest.fixture
def store(tmp_path, database_url):
    with CaseStore.open(tmp_path / "home", database_url) as opened:
        yield opened


def build_case(store: CaseStore, tmp_path) -> int:
    intake = store.open_case_with_evidence("Harbour fire", png_bytes(31), "alice", original_name="fire.png")
    case_id = intake.record.case_id
    run = store.start_analysis(case_id, intake.record.id, BackendInfo("evidence", "v1"), "alice")
    done = store.finish_analysis(run.id, model_result(intake.record.sha256, regions=2))
    edited = store.edit_region(done.regions[0].id, "bob", box=Box(1, 1, 30, 30), status="confirmed", note="pasted")
    store.add_question(edited.id, "bob", "consistent noise?", "no", "evidence")
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.4 a report")
    store.record_report(case_id, report, "alice", analysis_id=done.id)
    store.update_case(case_id, "carol", final_verdict="ai-generated", final_note="pasted boat")
    return case_id


def execute(store: CaseStore, statement: str, **values) -> None:
    with store._db.engine.begin() as connection:
        connection.execute(text(statement), values)


def chain_problems(store: CaseStore) -> list[str]:
    return [p.message for p in store.verify() if p.kind == "chain"]


def test_every_record_is_chained_and_a_fresh_case_verifies(store, tmp_path):
    case_id = build_case(store, tmp_path)
    assert store.verify() == []
    with store._db.engine.connect() as connection:
        links = []
        for table in ("evidence_files", "analyses", "audit_events"):
            links += connection.execute(text(f"SELECT chain_seq, chain_prev, chain_hash FROM {table} "
                                             "WHERE case_id = :c"), {"c": case_id}).all()
        links += connection.execute(text("SELECT chain_seq, chain_prev, chain_hash FROM regions")).all()
        links += connection.execute(text("SELECT chain_seq, chain_prev, chain_hash FROM region_questions")).all()
        uid, head, length = connection.execute(text("SELECT uid, chain_head, chain_length FROM cases")).one()
        report_head = connection.execute(text("SELECT chain_head FROM reports")).scalar_one()
    links.sort()
    assert [seq for seq, _, _ in links] == list(range(1, len(links) + 1)) and length == len(links)
    assert links[0][1] == genesis(uid) and head == links[-1][2]
    assert all(later[1] == earlier[2] for earlier, later in zip(links, links[1:]))
    assert report_head in {h for _, _, h in links}
    assert store.chain_head(case_id) == head


def test_a_verdict_changed_in_the_database_is_named(store, tmp_path):
    build_case(store, tmp_path)
    execute(store, "UPDATE analyses SET verdict = 'real'")
    [message] = chain_problems(store)
    assert "has changed since it was recorded" in message and "analysis 1 (link" in message
    assert "verdict 'real'" in message


def test_a_deleted_audit_event_is_named(store, tmp_path):
    case_id = build_case(store, tmp_path)
    detail = store.get_case(case_id)
    middle = next(e for e in detail.history if e.action == "analysis-finished")
    execute(store, "DELETE FROM audit_events WHERE id = :id", id=middle.id)
    [message] = chain_problems(store)
    assert f"case {case_id}" in message and "missing before" in message and "was deleted" in message


def test_deleting_the_newest_records_is_seen(store, tmp_path):
    case_id = build_case(store, tmp_path)
    newest = store.get_case(case_id).history[-1]
    execute(store, "DELETE FROM audit_events WHERE id = :id", id=newest.id)
    [message] = chain_problems(store)
    assert "newest records were deleted" in message


def test_evidence_swapped_together_with_its_row_is_named(store, tmp_path):
    case_id = build_case(store, tmp_path)
    item = store.get_case(case_id).evidence_files[0]
    # A forger puts another image in the store and points the row at it: every file hash agrees.
    other = tmp_path / "other.png"
    other.write_bytes(png_bytes(99))
    sha256, size = sha256_of_file(other)
    target = store.stored_path(sha256)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(other.read_bytes())
    execute(store, "UPDATE evidence_files SET sha256 = :s, size_bytes = :n WHERE id = :id", s=sha256, n=size,
            id=item.id)
    problems = store.verify()
    assert [p.kind for p in problems] == ["chain"]
    assert f"evidence file {item.id} 'fire.png'" in problems[0].message and sha256 in problems[0].message


def test_a_row_inserted_behind_the_stores_back_is_named(store, tmp_path):
    case_id = build_case(store, tmp_path)
    execute(store, "INSERT INTO audit_events (case_id, actor, action, subject, at) "
                   "VALUES (:c, 'mallory', 'case-updated', '', :at)", c=case_id, at="2026-12-01 10:00:00")
    [message] = chain_problems(store)
    assert "in no link of the chain" in message and "mallory" in message


def test_orphan_objects_and_stale_temp_files_are_found_and_cleaned(store, tmp_path):
    build_case(store, tmp_path)
    home = store.home
    orphan = store.stored_path("ab" * 32)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"left by a killed intake")
    stale = home / "tmp" / "incoming-k9x2"
    stale.parent.mkdir(exist_ok=True)
    stale.write_bytes(b"partial")
    stale_import = home / "tmp" / "import-abc"
    stale_import.mkdir()
    (stale_import / "part").write_bytes(b"x")
    fresh = home / "tmp" / "incoming-now"  # another session may be writing it right now
    fresh.write_bytes(b"in progress")
    for path in (orphan, stale, stale_import):
        os.utime(path, (OLD, OLD))
    problems = store.verify()
    found = {(p.kind, p.path) for p in problems}
    assert found == {("orphan", str(orphan)), ("stale-temp", str(stale)), ("stale-temp", str(stale_import))}
    assert all(p.message for p in problems)
    removed = store.clean_leftovers(problems)
    assert sorted(removed) == sorted(str(p) for p in (orphan, stale, stale_import))
    assert not orphan.exists() and not stale.exists() and not stale_import.exists() and fresh.exists()
    assert store.verify() == []


def test_clean_never_removes_a_file_a_record_names(store, tmp_path):
    case_id = build_case(store, tmp_path)
    item = store.get_case(case_id).evidence_files[0]
    kept = store.stored_path(item.sha256)
    from storage.records import VerifyProblem

    assert store.clean_leftovers([VerifyProblem(kind="orphan", message="", path=str(kept))]) == []
    assert kept.exists()


def test_migration_0005_chains_an_existing_store_once_and_says_so(tmp_path, database_url):
    with CaseStore.open(tmp_path / "home", database_url) as store:
        case_id = build_case(store, tmp_path)
        before = store.get_case(case_id)
        migrate_down = store._db
        with migrate_down.engine.begin() as connection:
            from alembic import command
            from alembic.config import Config

            config = Config()
            config.set_main_option("script_location", str(migrate.MIGRATIONS))
            config.attributes["connection"] = connection
            command.downgrade(config, "0004")  # as a store written before 0005
    with CaseStore.open(tmp_path / "home", database_url) as store:
        assert store.verify() == []
        after = store.get_case(case_id)
        assert len(after.history) == len(before.history) + 1
        event = after.history[-1]
        assert (event.actor, event.action) == ("migration 0005", "case-chained")
        assert "chained" in event.after["reason"]
        store.update_case(case_id, "dave", notes="after the migration")  # the chain goes on from there
        assert store.verify() == []
        execute(store, "UPDATE region_questions SET answer = 'yes'")
        [message] = chain_problems(store)
        assert "question 1 (link" in message


KILLED_MID_WRITE = """
import sys, time
from pathlib import Path
from storage.blobs import BlobStore
blobs = BlobStore(Path(sys.argv[1]))
with blobs._staged_file() as (handle, staged):
    handle.write(b"half an upload")
    handle.flush()
    print(staged, flush=True)
    time.sleep(60)
"""


def test_a_temp_file_left_by_kill_9_is_found_and_cleaned(tmp_path):
    import signal
    import subprocess
    import sys

    with CaseStore.open(tmp_path / "home") as store:
        build_case(store, tmp_path)
        child = subprocess.Popen([sys.executable, "-c", KILLED_MID_WRITE, str(store.home)], stdout=subprocess.PIPE,
                                 cwd=os.getcwd(), env={**os.environ, "PYTHONPATH": os.getcwd()})
        left = child.stdout.readline().decode().strip()
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        child.stdout.close()
        assert os.path.basename(left).startswith("incoming-") and os.path.exists(left)
        assert store.verify() == []  # too young to call stale: it might be a write in progress
        os.utime(left, (OLD, OLD))
        assert [(p.kind, p.path) for p in store.verify()] == [("stale-temp", left)]


def test_zoomin_verify_names_the_break_and_cleans_leftovers(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from zoomin_ui.cli import main

    monkeypatch.setenv("ZOOMIN_HOME", str(tmp_path / "home"))
    with CaseStore.open(tmp_path / "home") as store:
        build_case(store, tmp_path)
        stale = store.home / "tmp" / "incoming-old"
        stale.parent.mkdir(exist_ok=True)
        stale.write_bytes(b"x")
        os.utime(stale, (OLD, OLD))
    result = CliRunner().invoke(main, ["verify", "--clean"])
    assert result.exit_code == 0 and f"removed {stale}" in result.stderr and not stale.exists()
    assert "stale-temp" in result.stdout
    with CaseStore.open(tmp_path / "home") as store:
        execute(store, "UPDATE analyses SET verdict = 'real'")
    result = CliRunner().invoke(main, ["verify"])
    assert result.exit_code == 1 and "chain: case 1: the case record was altered: analysis 1" in result.stdout
    problems = json.loads(CliRunner().invoke(main, ["verify", "--json"]).stdout)
    assert [p["kind"] for p in problems] == ["chain"]

"""Crash safety and faults on a real SQLite file: a process killed in the
middle of writing an analysis, killed at a random moment of a stream of
writes, a full disk, a read-only data folder.  The children are real
processes; nothing is mocked."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from storage import CaseStore, StoreError
from tests.storage_backends import png_bytes
from tests.storage_backends import store_environment  # noqa: F401  (autouse fixture)

REPO = Path(__file__).resolve().parents[1]

PRELUDE = """
import json, os, sys
from storage import BackendInfo, CaseStore, StoreError
from tests.storage_backends import model_result, png_bytes
home = sys.argv[1]
"""


def run_child(body: str, *args: str, user: list[str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([*(user or []), sys.executable, "-c", PRELUDE + body, *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def integrity(home: Path) -> str:
    with sqlite3.connect(home / "cases.sqlite3") as connection:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]


def stored_files(home: Path) -> list[Path]:
    objects = home / "objects"
    return sorted(p for p in objects.rglob("*") if p.is_file()) if objects.exists() else []


def test_a_process_killed_mid_analysis_write_leaves_a_consistent_database(tmp_path):
    home = tmp_path / "home"
    data = png_bytes(11, 160, 120)
    with CaseStore.open(home) as store:
        intake = store.open_case_with_evidence("Killed mid-write", data, "alice", original_name="photo.png")
    child = run_child("""
from sqlalchemy import event
from sqlalchemy.orm import Session
from storage.tables import RegionRow

store = CaseStore.open(home)
run = store.start_analysis(int(sys.argv[2]), int(sys.argv[3]), BackendInfo("evidence", "test"), "alice")
print(run.id, flush=True)

@event.listens_for(Session, "after_flush")
def die_mid_transaction(session, _context):
    # The regions are written, the transaction is not committed: the process dies here.
    if any(isinstance(row, RegionRow) for row in session.new):
        os._exit(17)

store.finish_analysis(run.id, model_result(sys.argv[4], regions=4))
print("finished without dying", flush=True)
""", str(home), str(intake.record.case_id), str(intake.record.id), intake.record.sha256)
    assert child.returncode == 17, child.stderr
    analysis_id = int(child.stdout.split()[0])

    assert integrity(home) == "ok"
    with sqlite3.connect(home / "cases.sqlite3") as connection:
        assert connection.execute("SELECT status FROM analyses WHERE id = ?", (analysis_id,)).fetchone() == ("running",)
        assert connection.execute("SELECT count(*) FROM regions").fetchone() == (0,)

    with CaseStore.open(home) as store:
        assert store.interrupted_on_open == [analysis_id]
        interrupted = store.get_analysis(analysis_id)
        assert interrupted.status == "interrupted" and "stopped before it finished" in interrupted.error
        assert interrupted.regions == () and interrupted.verdict is None
        assert store.verify() == []
        assert hashlib.sha256(store.evidence_bytes(intake.record.id)).hexdigest() == intake.record.sha256
        assert [e.action for e in store.get_case(intake.record.case_id).history][-1] == "analysis-interrupted"

        from zoomin_ui import service

        rerun = service.rerun_analysis(store, service.open_detector("evidence"), analysis_id, "bob")
        again = store.get_analysis(rerun.analysis_id)
        assert again.status == "done" and again.parameters["rerun_of"] == analysis_id
        assert again.started_by == "bob" and again.model_output().sha256 == intake.record.sha256
    with CaseStore.open(home) as store:  # nothing more to mark on the next start
        assert store.interrupted_on_open == []


def test_a_run_of_a_live_process_is_not_marked_interrupted(tmp_path):
    home = tmp_path / "home"
    with CaseStore.open(home) as store:
        intake = store.open_case_with_evidence("Live", png_bytes(1), "alice", original_name="a.png")
        run = store.start_analysis(intake.record.case_id, intake.record.id, _engine(), "alice")
    with CaseStore.open(home) as other_session:  # another UI session starting while this one runs
        assert other_session.interrupted_on_open == []
        assert other_session.get_analysis(run.id).status == "running"


def test_killed_at_a_random_moment_of_a_stream_of_writes(tmp_path):
    home = tmp_path / "home"
    CaseStore.open(home).close()
    child = subprocess.Popen([sys.executable, "-c", PRELUDE + """
store = CaseStore.open(home)
for index in range(10_000):
    intake = store.open_case_with_evidence(f"case {index}", png_bytes(index % 7), "alice", original_name="p.png")
    run = store.start_analysis(intake.record.case_id, intake.record.id, BackendInfo("evidence", "t"), "alice")
    store.finish_analysis(run.id, model_result(intake.record.sha256, regions=3))
    print(index, flush=True)
""", str(home)], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, text=True)
    try:
        for _ in range(15):  # let it get well into the stream
            assert child.stdout.readline(), "the writer stopped early"
        time.sleep(0.037)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()

    assert integrity(home) == "ok"
    with CaseStore.open(home) as store:
        page = store.list_cases(page_size=500)
        assert page.total >= 15
        for summary in page.cases:
            for analysis in store.get_case(summary.id).analyses:
                assert analysis.status in ("done", "interrupted")
                assert len(analysis.regions) == (3 if analysis.status == "done" else 0)
        assert store.verify() == []


def test_a_full_disk_leaves_nothing_half_written(tmp_path):
    import numpy as np

    from models.sample_images import encode

    home = tmp_path / "home"
    with CaseStore.open(home) as store:
        case = store.create_case("Full disk", "alice")
        store.add_evidence_file(case.id, png_bytes(1), "alice", original_name="small.png")
    noise = np.random.default_rng(0).integers(0, 256, size=(900, 900, 3), dtype=np.uint8)
    big = tmp_path / "big.png"
    big.write_bytes(encode(noise, "PNG"))
    assert big.stat().st_size > 2_000_000
    before = stored_files(home)
    child = run_child("""
import resource, signal
store = CaseStore.open(home)
# From here on no file may grow past 1 MB, as on a nearly full disk.
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))
results = {}
try:
    store.add_evidence_file(int(sys.argv[2]), sys.argv[3], "alice")
    results["intake"] = "stored"
except StoreError as exc:
    results["intake"] = [exc.code, str(exc)]
print(json.dumps(results))
""", str(home), str(case.id), str(big), timeout=120)
    assert child.returncode == 0, child.stderr
    results = json.loads(child.stdout)
    assert results["intake"][0] == "storage" and "nothing was saved" in results["intake"][1]
    assert stored_files(home) == before
    assert not any((home / "tmp").iterdir())
    assert integrity(home) == "ok"
    with CaseStore.open(home) as store:
        detail = store.get_case(case.id)
        assert [f.original_name for f in detail.evidence_files] == ["small.png"]
        assert [e.action for e in detail.history] == ["case-created", "evidence-added"]


def test_a_full_disk_during_export_leaves_no_bundle(tmp_path):
    import numpy as np

    from models.sample_images import encode

    home = tmp_path / "home"
    noise = np.random.default_rng(1).integers(0, 256, size=(900, 900, 3), dtype=np.uint8)
    with CaseStore.open(home) as store:
        intake = store.open_case_with_evidence("Export", encode(noise, "PNG"), "alice", original_name="n.png")
    out = tmp_path / "out"
    out.mkdir()
    child = run_child("""
import resource, signal
store = CaseStore.open(home)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))
try:
    store.export_bundle(int(sys.argv[2]), sys.argv[3], "alice")
    print(json.dumps("written"))
except StoreError as exc:
    print(json.dumps([exc.code, str(exc)]))
""", str(home), str(intake.record.case_id), str(out / "case.zip"))
    assert child.returncode == 0, child.stderr
    code, message = json.loads(child.stdout)
    assert code == "storage" and "no bundle was written" in message
    assert list(out.iterdir()) == []


def _engine():
    from storage import BackendInfo

    return BackendInfo("evidence", "test")


def _unprivileged() -> list[str] | None:
    """A command prefix that runs a child as a user the file permissions apply to."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        return None
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def test_a_read_only_data_folder_gets_a_clear_error_and_loses_nothing():
    user = _unprivileged()
    if user is None:
        pytest.skip("running as root without setpriv: file permissions cannot be tested")
    # Outside pytest's private tmp folders, so the unprivileged child can reach it.
    root = Path(tempfile.mkdtemp(prefix="zoomin-ro-"))
    os.chmod(root, 0o777)
    try:
        child = run_child("""
import pathlib
home = pathlib.Path(home)
store = CaseStore.open(home)
case = store.create_case("Read-only", "alice")
store.add_evidence_file(case.id, png_bytes(1), "alice", original_name="first.png")
for folder in (home / "objects", home / "tmp", *(home / "objects").iterdir()):
    folder.chmod(0o555)
results = {}
try:
    store.add_evidence_file(case.id, png_bytes(2), "alice", original_name="second.png")
    results["intake"] = "stored"
except StoreError as exc:
    results["intake"] = [exc.code, str(exc)]
store.close()
(home / "cases.sqlite3").chmod(0o444)
home.chmod(0o555)
try:
    CaseStore.open(home).create_case("cannot", "alice")
    results["database"] = "written"
except StoreError as exc:
    results["database"] = [exc.code, str(exc)]
print(json.dumps(results))
""", str(root / "home"), user=user)
        assert child.returncode == 0, child.stderr
        results = json.loads(child.stdout)
        assert results["intake"][0] == "storage" and "nothing was saved" in results["intake"][1]
        assert results["database"][0] in ("storage", "unavailable"), results
        assert "Traceback" not in results["database"][1]
        for folder in [root / "home", *(root / "home").rglob("*")]:
            folder.chmod(0o755 if folder.is_dir() else 0o644)
        with CaseStore.open(root / "home") as store:
            detail = store.get_case(1)
            assert [f.original_name for f in detail.evidence_files] == ["first.png"]
            assert store.list_cases().total == 1 and store.verify() == []
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_evidence_folder_that_cannot_be_created_is_a_clear_error(tmp_path):
    home = tmp_path / "home"
    with CaseStore.open(home) as store:
        case = store.create_case("Blocked", "alice")
        (home / "objects").write_text("a file where the evidence folder should be")
        with pytest.raises(StoreError) as refused:
            store.add_evidence_file(case.id, png_bytes(1), "alice", original_name="a.png")
        assert refused.value.code == "storage"
        assert store.get_case(case.id).evidence_files == ()


def test_liveness_is_read_from_the_runner_lock_whatever_the_host_name(tmp_path):
    """A container restarted under a new host name must still see that the
    process which left a run `running` is gone, and that a live one is not."""
    home = tmp_path / "home"
    with CaseStore.open(home) as store:
        intake = store.open_case_with_evidence("Containers", png_bytes(4), "alice", original_name="a.png")
    child = subprocess.Popen([sys.executable, "-c", PRELUDE + """
store = CaseStore.open(home)
run = store.start_analysis(int(sys.argv[2]), int(sys.argv[3]), BackendInfo("vlm", "slow"), "alice")
print(run.id, flush=True)
sys.stdin.readline()  # runs until the test lets it go
""", str(home), str(intake.record.case_id), str(intake.record.id)], cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)}, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        analysis_id = int(child.stdout.readline())
        with sqlite3.connect(home / "cases.sqlite3") as connection:  # as written from another container
            connection.execute("UPDATE analyses SET runner_host = 'container-before-restart', runner_pid = 1")
        with CaseStore.open(home) as store:
            assert store.interrupted_on_open == []  # its process still holds the lock
            assert store.get_analysis(analysis_id).status == "running"
    finally:
        child.kill()
        child.wait(timeout=30)
        child.stdin.close()
        child.stdout.close()
    with CaseStore.open(home) as store:
        assert store.interrupted_on_open == [analysis_id]
    assert list((home / "runners").glob("*.lock")) == []

"""Concurrent writers: several sessions (threads, each with its own store,
as UI sessions are) and command-line processes at once.  No row may be lost
and no "database is locked" may reach a caller."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from storage import CaseStore, StoreError
from tests.storage_backends import BACKENDS, database_for, png_bytes
from tests.storage_backends import store_environment  # noqa: F401  (autouse fixture)


@pytest.fixture(params=BACKENDS)
def database_url(request):
    yield from database_for(request.param)


THREADS = 8
WRITES = 25
REPO = Path(__file__).resolve().parents[1]


def writer(home: Path, url: str | None, worker: int, shared_case: int, failures: list[str],
           start: threading.Barrier) -> None:
    try:
        with CaseStore.open(home, url) as store:
            start.wait()
            for index in range(WRITES):
                if index % 5 == 4:  # every fifth write lands on one case all workers share
                    store.update_case(shared_case, f"analyst-{worker}", notes=f"note {worker}-{index}")
                else:
                    store.create_case(f"worker {worker} case {index}", f"analyst-{worker}")
    except Exception as exc:  # every failure is collected and reported by the test
        failures.append(f"worker {worker}: {type(exc).__name__}: {exc}")


def test_eight_sessions_writing_at_once_lose_nothing(tmp_path, database_url):
    home = tmp_path / "home"
    with CaseStore.open(home, database_url) as store:
        shared = store.create_case("shared", "lead")
    failures: list[str] = []
    start = threading.Barrier(THREADS)
    threads = [threading.Thread(target=writer, args=(home, database_url, worker, shared.id, failures, start))
               for worker in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    with CaseStore.open(home, database_url) as store:
        titles = {case.title for case in store.list_cases(page_size=500).cases}
        expected = {f"worker {w} case {i}" for w in range(THREADS) for i in range(WRITES) if i % 5 != 4}
        assert expected <= titles and len(titles) == len(expected) + 1
        history = store.get_case(shared.id).history
        assert sum(event.action == "case-updated" for event in history) == THREADS * (WRITES // 5)
        for worker in range(THREADS):
            assert store.list_cases(analyst=f"analyst-{worker}", page_size=500).total == WRITES - WRITES // 5 + 1


CLI_WRITER = """
import sys
from storage import BackendInfo, CaseStore
from tests.storage_backends import model_result, png_bytes
store = CaseStore.open(sys.argv[1])
for index in range(int(sys.argv[3])):
    intake = store.open_case_with_evidence(f"cli {sys.argv[2]} case {index}", png_bytes(index), "cli",
                                           original_name=f"{index}.png")
    run = store.start_analysis(intake.record.case_id, intake.record.id, BackendInfo("evidence", "t"), "cli")
    store.finish_analysis(run.id, model_result(intake.record.sha256, regions=2))
"""


def test_command_line_processes_and_a_session_write_at_once(tmp_path):
    home = tmp_path / "home"
    CaseStore.open(home).close()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    processes = [subprocess.Popen([sys.executable, "-c", CLI_WRITER, str(home), str(n), "10"], cwd=REPO, env=env,
                                  stderr=subprocess.PIPE, text=True) for n in range(2)]
    errors = []
    with CaseStore.open(home) as session:
        for index in range(20):
            try:
                case = session.create_case(f"session case {index}", "ui")
                session.add_evidence_file(case.id, png_bytes(100 + index), "ui", original_name="x.png")
            except StoreError as exc:
                errors.append(str(exc))
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
    assert errors == []
    with CaseStore.open(home) as store:
        page = store.list_cases(page_size=500)
        assert page.total == 40
        cli_cases = [c for c in page.cases if c.title.startswith("cli")]
        assert all(c.model_verdict == "ai-generated" for c in cli_cases) and len(cli_cases) == 20
        assert store.verify() == []
